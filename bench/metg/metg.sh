#!/usr/bin/env bash
# metg.sh - task-granularity sweep with the METG metric (Task Bench,
# Slaughter et al., SC'20) for TokenGate, oneTBB, GCC and LLVM OpenMP and a
# serial floor.
#
#   bench/metg/metg.sh [--quick] [--width W] [--reps R] [--patterns "P ..."]
#
# Builds bench/metg/*.c* into build/bench/metg/ (gcc -O2, g++ -O2 -ltbb,
# clang -O2 -fopenmp; a peer whose compiler or library is missing is "n/a"),
# calibrates the kernel (ns per iteration), then for each pattern (trivial,
# stencil_1d, tree, fft, nearest) sweeps the task size from 100 ms down to
# 1 us (13 sizes, 50 us among them).  steps per size: about 0.35
# core-seconds of work per run (a parallel run on 2 cores lasts ~0.2 s,
# serial ~0.35 s), at least 5 steps (the 100 ms point: 0.5 s parallel), at
# most 100,000 tasks.  At each size the systems run interleaved, one process
# per run, the first system rotating; R repetitions (default 3) of every
# task system, one of serial, and the median wall counts.  A repetition is
# one pass over all patterns and sizes, so a point's repetitions are minutes
# apart and a burst of load from another process spoils at most one.  The full sweep
# takes about 4 minutes on a quiet 2-core machine.
#
# Method (per pattern; see bench/metg/metg.py):
#   throughput = tasks x iters / wall, peak = best of any system at any size,
#   efficiency = throughput / peak, granularity = wall x cores / tasks,
#   METG(50%) = the smallest granularity still at 50% efficiency or more,
#   interpolated in log space between the two sweep points around 50%.
# Every program verifies its checksum (all values of all steps) against a
# cheap serial reference, and the driver compares each with the serial
# program's checksum for the same graph.
#
# Output: bench/METG.md and bench/metg.svg, the raw log in
# build/bench/metg/raw.txt (--quick: all three in build/bench/metg/quick/,
# so a smoke test does not overwrite the full results), one summary line per
# pattern on stdout, progress on stderr.
# --quick: 5 sizes, 1 repetition, small graphs (well under a minute).
# Exit status: 0, or 1 if a build of tokengate/serial, a run, or a checksum
# failed (a run that does not end in 60 s is killed and counts as failed).
# Environment: CC (gcc), CXX (g++), CLANG (clang), METG_BUILD (output dir).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${METG_BUILD:-$root/build/bench/metg}
CC=${CC:-gcc}
CXX=${CXX:-g++}
CLANG=${CLANG:-clang}
TIMEOUT=60
mode=full
width=$(nproc)
reps=3
cores=$(nproc)
patterns="trivial stencil_1d tree fft nearest"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
    case $1 in
        --quick) mode=quick reps=1 ;;
        --width) width=$2; shift ;;
        --reps) reps=$2; shift ;;
        --patterns) patterns=$2; shift ;;
        -h | --help) usage 0 ;;
        *) echo "metg.sh: unknown option $1" >&2; usage 2 ;;
    esac
    shift
done
if ! [[ $width =~ ^[1-9][0-9]*$ && $reps =~ ^[1-9][0-9]*$ ]]; then
    echo "metg.sh: bad --width or --reps" >&2
    exit 2
fi
if (((width & (width - 1)) != 0)) && [[ " $patterns " == *" fft "* ]]; then
    echo "metg.sh: fft needs a power-of-two width; skipping it at width $width" >&2
    patterns=${patterns/fft/}
fi
if [[ $mode == quick ]]; then
    md=$out/quick/METG.md svg=$out/quick/metg.svg data=$out/quick raw=$out/quick/raw.txt
else
    md=$root/bench/METG.md svg=$root/bench/metg.svg data=$out/data raw=$out/raw.txt
fi
mkdir -p "$out" "$data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$raw"

declare -A na   # system -> why it is not available
warn=(-Wall -Wextra)

# compile NAME CMD...: builds $out/NAME, logging to $tmp/NAME.log.
compile() {
    local name=$1; shift
    if "$@" >"$tmp/$name.log" 2>&1; then
        [[ -s $tmp/$name.log ]] && cat "$tmp/$name.log" >&2   # warnings
        return 0
    fi
    return 1
}

have_tbb() {
    [[ -f /usr/include/tbb/flow_graph.h || -f /usr/include/oneapi/tbb/flow_graph.h ]] &&
        [[ $("$CXX" -print-file-name=libtbb.so 2>/dev/null) == /* ]]
}

have_omp() { # compiler
    printf '#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n' >"$tmp/omp.c"
    command -v "$1" >/dev/null && "$1" -fopenmp "$tmp/omp.c" -o "$tmp/omp" >/dev/null 2>&1
}

# Builds every program in parallel; records peers that cannot be built.
build() {
    local c11=(-std=c11 -O2 "${warn[@]}") pids=() names=() i
    compile serial "$CC" "${c11[@]}" "$here/serial.c" -o "$out/serial" & pids+=($!); names+=(serial)
    compile tokengate "$CC" "${c11[@]}" -pthread "$here/tokengate.c" -o "$out/tokengate" &
    pids+=($!); names+=(tokengate)
    if have_tbb; then
        compile tbb "$CXX" -std=c++17 -O2 "${warn[@]}" -pthread "$here/tbb.cpp" -o "$out/tbb" -ltbb &
        pids+=($!); names+=(tbb)
    else na[tbb]="oneTBB not found (apt-get install libtbb-dev)"; fi
    if have_omp "$CC"; then
        compile gomp "$CC" "${c11[@]}" -fopenmp -DSYSTEM_NAME='"gomp"' "$here/omp.c" -o "$out/gomp" &
        pids+=($!); names+=(gomp)
    else na[gomp]="$CC -fopenmp does not build (libgomp missing)"; fi
    if have_omp "$CLANG"; then
        compile llvm-omp "$CLANG" "${c11[@]}" -fopenmp -DSYSTEM_NAME='"llvm-omp"' "$here/omp.c" \
            -o "$out/llvm-omp" & pids+=($!); names+=(llvm-omp)
    else na[llvm-omp]="$CLANG -fopenmp does not build (apt-get install clang libomp-dev)"; fi
    local fail=0
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" && continue
        echo "metg.sh: building ${names[$i]} failed:" >&2
        cat "$tmp/${names[$i]}.log" >&2
        case ${names[$i]} in
            serial | tokengate) fail=1 ;;
            *) na[${names[$i]}]="build failed (see the log above)" ;;
        esac
    done
    return $fail
}

# run_one SYSTEM PATTERN LABEL ITERS STEPS: one process, one measurement,
# appended to the raw log; a failure (exit status, timeout, ok=0, no
# result) becomes a FAIL line and is echoed with the program's stderr.
run_one() {
    local sys=$1 pattern=$2 label=$3 iters=$4 steps=$5 res rc reason=""
    res=$(timeout -k 5 "$TIMEOUT" "$out/$sys" --pattern "$pattern" --width "$width" \
        --steps "$steps" --iters "$iters" --reps 1 2>"$tmp/err")
    rc=$?
    printf '%s\n' "$res" | sed -n "s/^\(RESULT\|ERROR\) /\1 label=$label /p" >>"$raw"
    if ((rc == 124 || rc == 137)); then reason="timeout: no end after ${TIMEOUT}s"
    elif ((rc != 0)); then reason="exit status $rc"
    elif ! grep -q ' ok=1$' <<<"$res"; then reason="no verified result"
    fi
    [[ -z $reason ]] && return 0
    echo "FAIL system=$sys pattern=$pattern label=$label reason=${reason// /_}" >>"$raw"
    echo "FAILED: $sys $pattern $label (steps=$steps iters=$iters): $reason" >&2
    sed 's/^/    /' "$tmp/err" >&2
    return 1
}

# sweep_point REP PATTERN INDEX LABEL ITERS STEPS: one repetition of every
# system at one point, the first one rotating with the point and the
# repetition; serial (the floor) only in the first repetition.
sweep_point() {
    local rep=$1 pattern=$2 k=$3 label=$4 iters=$5 steps=$6 j n s order line=""
    order=("${par[@]}")
    ((rep == 0)) && order+=(serial)
    n=${#order[@]}
    for ((j = 0; j < n; j++)); do
        s=${order[$(((k + rep + j) % n))]}
        if run_one "$s" "$pattern" "$label" "$iters" "$steps"; then
            line+=" $s:$(last_wall "$s")"
        else
            status=1 line+=" $s:FAILED"
        fi
    done
    printf '  [%3ds] rep %d/%d %-10s %-7s steps=%-6s%s\n' "$SECONDS" $((rep + 1)) "$reps" \
        "$pattern" "$label" "$steps" "$line" >&2
}

# last_wall SYSTEM: the wall (ms) of the system's last result in the raw log.
last_wall() {
    awk -v s="$1" '$1 == "RESULT" && index($0, " system=" s " ") {
        for (i = 2; i <= NF; i++) if ($i ~ /^wall_ns=/) w = substr($i, 9) / 1e6
    } END { printf "%.1f", w }' "$raw"
}

# header_version: the commit of tokengate.h as built (read-only git).
header_version() {
    local h g=(git --no-optional-locks -C "$root")
    h=$("${g[@]}" log -1 --format='%h (%cs)' -- tokengate.h 2>/dev/null) || h=""
    [[ -n $h ]] || { echo "not in git"; return; }
    "${g[@]}" diff --quiet HEAD -- tokengate.h 2>/dev/null || h="$h plus uncommitted changes"
    echo "last changed in commit $h"
}

info_args() {
    local q="" cmd run bld cc tbbv when
    [[ $mode == quick ]] && q=" --quick"
    tbbv=$(dpkg-query -W -f '${Version}' libtbb-dev 2>/dev/null || echo "?")
    cmd="\`bench/metg/metg.sh$q\` (width $width; per point $reps run(s) of each task system,"
    cmd+=" 1 of serial)"
    run="\`build/bench/metg/SYSTEM --pattern P --width $width --steps S --iters N --reps 1\`"
    run+=" (S and N per size below; N = size / ns per iteration)"
    bld="\`$CC -std=c11 -O2 [-pthread | -fopenmp]\`, \`$CXX -std=c++17 -O2 -pthread tbb.cpp"
    bld+=" -ltbb\`, \`$CLANG -std=c11 -O2 -fopenmp\`"
    cc="$("$CC" --version | head -1); $("$CLANG" --version 2>/dev/null | head -1); oneTBB $tbbv"
    when="$(date -u '+%Y-%m-%d %H:%M UTC'), sweep took ${SECONDS}s; load average (1, 5, 15 min)"
    when+=" $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    printf '%s\0' --info "command=$cmd" --info "one run=$run" --info "build=$bld" \
        --info "tokengate.h=$(header_version)" \
        --info "kernel=$ns_per_iter ns per iteration (serial --calibrate: best of 9 timings)" \
        --info "machine=$(nproc) CPUs, $(uname -sr), a shared VM: expect noise of 10-30% between runs" \
        --info "compilers=$cc" --info "date=$when"
}

status=0
echo "building into $out" >&2
build || exit 1
par=()
for s in tokengate tbb gomp llvm-omp; do
    if [[ -n ${na[$s]:-} ]]; then echo "n/a $s: ${na[$s]}" >&2; else par+=("$s"); fi
done
ns_per_iter=$("$out/serial" --calibrate | sed -n 's/.*ns_per_iter=\([0-9.]*\).*/\1/p')
[[ -n $ns_per_iter ]] || { echo "metg.sh: calibration failed" >&2; exit 1; }
echo "kernel: $ns_per_iter ns per iteration; $mode sweep, width $width, $reps reps" >&2
SECONDS=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# the points, POINT lines first; then the repetitions, each a pass over every
# pattern and size, so the repetitions of one point lie a whole pass apart
# and a burst of load on the VM spoils at most one of them
points=()
for pattern in $patterns; do
    k=0
    while read -r label size iters steps; do
        echo "POINT pattern=$pattern label=$label size_ns=$size iters=$iters steps=$steps" >>"$raw"
        points+=("$pattern $k $label $iters $steps")
        k=$((k + 1))
    done < <(python3 "$here/metg.py" plan --mode "$mode" --ns-per-iter "$ns_per_iter" --width "$width")
done
for ((rep = 0; rep < reps; rep++)); do
    for p in "${points[@]}"; do
        read -r pattern k label iters steps <<<"$p"
        sweep_point "$rep" "$pattern" "$k" "$label" "$iters" "$steps"
    done
done
na_args=()
for s in "${!na[@]}"; do na_args+=(--na "$s=${na[$s]}"); done
mapfile -d '' infos < <(info_args)
python3 "$here/metg.py" report --raw "$raw" --cores "$cores" --width "$width" --mode "$mode" --md "$md" \
    --svg "$svg" --data "$data" --systems "tokengate tbb gomp llvm-omp serial" \
    "${na_args[@]}" "${infos[@]}" || status=1
echo "wrote $md and $svg (sweep ${SECONDS}s); exit status $status" >&2
exit $status
