#!/usr/bin/env bash
# Builds the peer benchmark programs into build/bench/<impl>-<bench> at -O2.
#
#   bench/peers/build.sh [--force]
#
# impl: tbb (oneTBB, g++), gomp (gcc -fopenmp), llvm-omp (clang -fopenmp,
# libomp), cthreadpool (its thpool.c compiled from /usr/share/cthreadpool),
# mcpool (bench/peers/mcpool/mcpool.h), serial.  An implementation whose
# package is missing is skipped with a message.  A program is rebuilt only
# when a source it depends on is newer (--force rebuilds all).
# Environment: CC (gcc), CXX (g++), CLANG (clang), BENCH_BUILD (output
# directory, default build/bench), JOBS (parallel compiles, default: CPUs).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${BENCH_BUILD:-$root/build/bench}
CC=${CC:-gcc}
CXX=${CXX:-g++}
CLANG=${CLANG:-clang}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
force=0
[[ ${1:-} == --force ]] && force=1

THPOOL_SRC=/usr/share/cthreadpool/thpool.c
THPOOL_INC=/usr/include/cthreadpool
common="$root/bench/common/workload.h"
warn=(-Wall -Wextra)

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# probe SOURCE COMPILER FLAGS...: compiles and links a tiny program.
probe() {
    local src=$1; shift
    "$@" "$src" -o "$tmp/probe" >/dev/null 2>&1
}

printf '#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel\n{\n#pragma omp atomic\nn++;}\nreturn n>0?0:1;}\n' >"$tmp/omp.c"
printf '#include <tbb/task_group.h>\nint main(){tbb::task_group g; g.run([]{}); g.wait(); return 0;}\n' >"$tmp/tbb.cpp"

declare -A have why
check() { # impl ok-flag reason
    have[$1]=$2
    why[$1]=$3
}

if [[ -f /usr/include/tbb/task_group.h || -f /usr/include/oneapi/tbb/task_group.h ]] &&
    [[ $("$CXX" -print-file-name=libtbb.so 2>/dev/null) == /* ]]; then
    check tbb 1 ""
else
    check tbb 0 "oneTBB not found (apt-get install libtbb-dev)"
fi
if probe "$tmp/omp.c" "$CC" -fopenmp; then
    check gomp 1 ""
else
    check gomp 0 "$CC -fopenmp does not build (GCC's libgomp missing)"
fi
if command -v "$CLANG" >/dev/null && probe "$tmp/omp.c" "$CLANG" -fopenmp; then
    check llvm-omp 1 ""
else
    check llvm-omp 0 "$CLANG -fopenmp does not build (apt-get install clang libomp-dev)"
fi
if [[ -f $THPOOL_SRC && -f $THPOOL_INC/thpool.h ]]; then
    check cthreadpool 1 ""
else
    check cthreadpool 0 "C-Thread-Pool not found (apt-get install cthreadpool-dev)"
fi
check mcpool 1 ""
check serial 1 ""

# Workloads an implementation cannot do have no source file (see NA.md);
# GNU libgomp cannot keep a million tasks pending (task throttling), so
# omp/memory.c is built for LLVM libomp only.
skip_gomp=" memory "

# C-Thread-Pool's own source, compiled once from where the package keeps it.
if [[ ${have[cthreadpool]} == 1 ]] && { [[ $force == 1 || ! -f $out/thpool.o || $THPOOL_SRC -nt $out/thpool.o ]]; }; then
    "$CC" -O2 -pthread -DDISABLE_PRINT -I"$THPOOL_INC" -c "$THPOOL_SRC" -o "$out/thpool.o" || {
        echo "error: building $THPOOL_SRC failed" >&2
        exit 1
    }
fi

add() { # impl bench deps(colon-separated) cmd...
    local impl=$1 bench=$2 deps=$3; shift 3
    local bin="$out/$impl-$bench" d stale=$force
    if [[ $stale == 0 ]]; then
        if [[ ! -x $bin ]]; then stale=1; else
            IFS=: read -ra ds <<<"$deps"
            for d in "${ds[@]}"; do [[ $d -nt $bin ]] && stale=1; done
        fi
    fi
    if [[ $stale == 1 ]]; then
        printf '%s\n' "$impl-$bench" >>"$tmp/names"
        printf '%q ' "$@" >>"$tmp/cmds"
        printf '\n' >>"$tmp/cmds"
    else
        printf '%s\n' "$impl-$bench" >>"$tmp/uptodate"
    fi
}
: >"$tmp/names"; : >"$tmp/cmds"; : >"$tmp/uptodate"

for impl in tbb gomp llvm-omp cthreadpool mcpool serial; do
    if [[ ${have[$impl]} != 1 ]]; then
        echo "skip $impl: ${why[$impl]}"
        continue
    fi
    case $impl in
        tbb) dir=tbb ext=cpp ;;
        gomp | llvm-omp) dir=omp ext=c ;;
        *) dir=$impl ext=c ;;
    esac
    for src in "$here/$dir"/*."$ext"; do
        [[ -e $src ]] || continue
        base=$(basename "$src" ."$ext")
        # empty.c is built three times: as empty, gather and held (workload.h)
        benches=$base
        [[ $base == empty ]] && benches="empty gather held"
        for bench in $benches; do
            bin="$out/$impl-$bench"
            deps="$src:$common:$here/build.sh"
            name=(-DEMPTY_BENCH="\"$bench\"")
            case $impl in
                tbb)
                    add "$impl" "$bench" "$deps" "$CXX" -std=c++17 -O2 "${warn[@]}" -pthread \
                        -DIMPL_NAME="\"tbb\"" "${name[@]}" "$src" -o "$bin" -ltbb -lm ;;
                gomp)
                    [[ $skip_gomp == *" $bench "* ]] && continue
                    add "$impl" "$bench" "$deps" "$CC" -std=c11 -O2 "${warn[@]}" -fopenmp \
                        -DIMPL_NAME="\"gomp\"" "${name[@]}" "$src" -o "$bin" -lm ;;
                llvm-omp)
                    add "$impl" "$bench" "$deps" "$CLANG" -std=c11 -O2 "${warn[@]}" -fopenmp \
                        -DIMPL_NAME="\"llvm-omp\"" "${name[@]}" "$src" -o "$bin" -lm ;;
                cthreadpool)
                    add "$impl" "$bench" "$deps:$out/thpool.o" "$CC" -std=c11 -O2 "${warn[@]}" -pthread \
                        -I"$THPOOL_INC" -DIMPL_NAME="\"cthreadpool\"" "${name[@]}" "$src" "$out/thpool.o" -o "$bin" -lm ;;
                mcpool)
                    add "$impl" "$bench" "$deps:$here/mcpool/mcpool.h" "$CC" -std=c11 -O2 "${warn[@]}" \
                        -pthread -DIMPL_NAME="\"mcpool\"" "${name[@]}" "$src" -o "$bin" -lm ;;
                serial)
                    add "$impl" "$bench" "$deps" "$CC" -std=c11 -O2 "${warn[@]}" \
                        -DIMPL_NAME="\"serial\"" "${name[@]}" "$src" -o "$bin" -lm ;;
            esac
        done
    done
done

# Compile in parallel; each job logs to its own file.
fail=0
mapfile -t names <"$tmp/names"
mapfile -t cmds <"$tmp/cmds"
running=0
pids=()
for ((i = 0; i < ${#cmds[@]}; i++)); do
    ( eval "${cmds[$i]}" ) >"$tmp/log.$i" 2>&1 &
    pids[$i]=$!
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n
        running=$((running - 1))
    fi
done
for ((i = 0; i < ${#cmds[@]}; i++)); do
    if wait "${pids[$i]}"; then
        echo "built ${names[$i]}"
        cat "$tmp/log.$i" >&2   # warnings, if any
    else
        echo "FAILED ${names[$i]}:" >&2
        cat "$tmp/log.$i" >&2
        fail=1
    fi
done
n_up=$(wc -l <"$tmp/uptodate")
((n_up > 0)) && echo "up to date: $(tr '\n' ' ' <"$tmp/uptodate")"
echo "peer programs in $out: $(cd "$out" && ls -d tbb-* gomp-* llvm-omp-* cthreadpool-* mcpool-* serial-* 2>/dev/null | tr '\n' ' ')"
exit $fail
