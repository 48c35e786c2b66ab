#!/usr/bin/env bash
# run.sh [--quick] [--rounds N] [--only "bench ..."]
#
# Builds the benchmark programs at -O2, runs every implementation of every
# benchmark interleaved, and writes bench/RESULTS.md, bench/waves.svg and
# bench/ratios.svg.
#
# Programs: build/bench/<impl>-<bench>. The tokengate ones are built here from
# bench/tokengate/<bench>.c; the peers by bench/peers/build.sh. A program that
# does not exist for a benchmark is "n/a" (bench/peers/NA.md says why). Every
# program verifies its own result, exits non-zero when it is wrong and prints
# one RESULT line (waves also prints WAVE lines) on stdout.
#
# Rounds: each round runs every implementation of a benchmark once, one after
# the other, in one hyperfine invocation (--warmup 1 --runs 1 --export-json);
# the implementation that goes first rotates from round to round. Rounds are
# the outer loop, so one round covers every benchmark before the next starts.
#   full:    3 rounds plus a warmup run in each; burst 1 round (its window
#            alone is 10 s per implementation: 3 rounds would take half of
#            the 10-minute budget).
#   --quick: the programs' quick sizes, 1 round plus the warmup run.
# burst never has a warmup run: its program measures a window of seconds.
# A program that exits non-zero, times out or prints no RESULT line with ok=1
# is FAILED in the tables, and run.sh exits 1 after writing them.
#
# TokenGate-only benchmarks (no peer has the feature they measure; they are
# not in the peers tables): locality (bench/locality.c, sticky keys against
# free routing) and sha256 (bench/tokengate/sha256.c, tg_sha256 against
# coreutils sha256sum). Each runs once per round, after the round's other
# benchmarks, without hyperfine (both time themselves and report medians of
# their own repetitions), and gets the section "Locality and SHA-256" of
# RESULTS.md with the medians over the rounds. They fail like the others.
#
# io writes its files in a fresh temporary directory under $TMPDIR (else
# /tmp), which run.sh sets for the io programs to BENCH_IO_TMPDIR, default
# /dev/shm (a tmpfs) when it is a writable directory; an empty
# BENCH_IO_TMPDIR leaves $TMPDIR as it is. On ext4 without a journal a new
# inode skips every inode freed in the last 60 s (300 s while its inode table
# block is dirty), so the thousands of files each io run removes would make
# the file creations of the runs after it cost up to a millisecond of kernel
# CPU each, more with every run; on a tmpfs every run starts alike.
#
# The task-granularity sweep (bench/metg/metg.sh, METG of the Task Bench
# paper, TokenGate with tg_submit_after against oneTBB flow::graph and both
# OpenMPs' depend clauses) runs once after the rounds, with --quick in a
# quick run; RESULTS.md gets its METG and 50 us efficiency tables, and its
# own report (bench/METG.md, bench/metg.svg; a quick run's go under
# build/bench/metg/quick/) has the sweeps. It fails like the others.
#
# --rounds N overrides the rounds (burst keeps 1 in a full run); --only
# runs the named benchmarks, locality, sha256 and metg included (the report
# then covers only those).
# Environment: CC (default cc), BENCH_TIMEOUT (seconds per program run),
# BENCH_IO_TMPDIR (see io above).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."

ALL_BENCHES=(empty gather held spawn fib skynet pingpong waves leibniz burst memory io)
ALL_TG_ONLY=(locality sha256)   # TokenGate-only, see above
declare -A TG_ONLY_SRC=([locality]=bench/locality.c [sha256]=bench/tokengate/sha256.c)
QUICK_ARG=--quick         # what every program takes for its quick sizes
CC=${CC:-cc}

quick=0
rounds=3
only=""
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1; rounds=1 ;;
    --rounds) rounds=$2; shift ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$only" ]; then
    BENCHES=() TG_ONLY=()
    read -r -a only_list <<<"$only"
    RUN_METG=0
    for b in "${only_list[@]}"; do
        if [ "$b" = metg ]; then RUN_METG=1
        elif [ -n "${TG_ONLY_SRC[$b]+x}" ]; then TG_ONLY+=("$b"); else BENCHES+=("$b"); fi
    done
else
    BENCHES=("${ALL_BENCHES[@]}") TG_ONLY=("${ALL_TG_ONLY[@]}") RUN_METG=1
fi

BIN=build/bench
RAW=$BIN/raw
OUT_MD=bench/RESULTS.md
CHANGELOG=bench/CHANGELOG.md
NA_MD=bench/peers/NA.md
if [ "$quick" = 1 ]; then timeout_s=${BENCH_TIMEOUT:-30}; else timeout_s=${BENCH_TIMEOUT:-180}; fi
# TMPDIR of the io programs (see the header): empty keeps the caller's
io_tmpdir=${BENCH_IO_TMPDIR-/dev/shm}
if [ -n "$io_tmpdir" ] && ! { [ -d "$io_tmpdir" ] && [ -w "$io_tmpdir" ]; }; then io_tmpdir=""; fi

note() { printf '%s\n' "$*" >&2; }

command -v hyperfine >/dev/null 2>&1 || { note "run.sh: hyperfine not found (make bench-peers installs it)"; exit 1; }

start_s=$(date +%s)
mkdir -p "$BIN"
rm -rf "$RAW"
mkdir -p "$RAW"
failures=0
# one line per timed run (round 0: a program that did not build)
printf 'bench\timpl\tround\twall\texit\tstatus\n' >"$RAW/runs.tsv"

# Rounds and warmup runs of one benchmark in this mode.
bench_rounds() {
    if [ "$quick" = 0 ] && [ "$1" = burst ]; then echo 1; else echo "$rounds"; fi
}
bench_warmup() {
    if [ "$1" = burst ]; then echo 0; else echo 1; fi
}

# ------------------------------------------------------------------- build

# up_to_date TARGET SOURCES...: TARGET exists and is newer than every source
up_to_date() {
    local t=$1 f; shift
    [ -f "$t" ] || return 1
    for f; do [ "$t" -nt "$f" ] || return 1; done
}

note "== building tokengate programs ($CC -O2)"
declare -A build_pid=()
for b in "${BENCHES[@]}"; do
    src=bench/tokengate/$b.c
    if [ ! -f "$src" ]; then note "   missing $src"; rm -f "$BIN/tokengate-$b"; continue; fi
    # --quick reuses an up-to-date program; a full run always rebuilds
    [ "$quick" = 1 ] && up_to_date "$BIN/tokengate-$b" "$src" tokengate.h bench/common/workload.h && continue
    rm -f "$BIN/tokengate-$b"
    $CC -O2 -pthread -o "$BIN/tokengate-$b" "$src" -lm >"$RAW/build-tokengate-$b.log" 2>&1 &
    build_pid[$b]=$!
done
# the TokenGate-only programs: build/bench/tokengate-<name>
declare -A tg_only_pid=()
for x in "${TG_ONLY[@]}"; do
    src=${TG_ONLY_SRC[$x]}
    if [ ! -f "$src" ]; then note "   missing $src"; rm -f "$BIN/tokengate-$x"; continue; fi
    [ "$quick" = 1 ] && up_to_date "$BIN/tokengate-$x" "$src" tokengate.h bench/common/workload.h && continue
    rm -f "$BIN/tokengate-$x"
    $CC -O2 -pthread -o "$BIN/tokengate-$x" "$src" -lm >"$RAW/build-tokengate-$x.log" 2>&1 &
    tg_only_pid[$x]=$!
done
for b in "${!build_pid[@]}"; do
    if ! wait "${build_pid[$b]}"; then
        note "   tokengate-$b: BUILD FAILED"; sed 's/^/     /' "$RAW/build-tokengate-$b.log" >&2
        printf '%s\ttokengate\t0\t0\t-\tbuild failed\n' "$b" >>"$RAW/runs.tsv"
        failures=$((failures + 1))
    fi
done
# one line per run of a TokenGate-only program (round 0: it did not build)
printf 'bench\tround\twall\texit\tstatus\n' >"$RAW/tg_only.tsv"
for x in "${!tg_only_pid[@]}"; do
    if ! wait "${tg_only_pid[$x]}"; then
        note "   tokengate-$x: BUILD FAILED"; sed 's/^/     /' "$RAW/build-tokengate-$x.log" >&2
        printf '%s\t0\t0\t-\tbuild failed\n' "$x" >>"$RAW/tg_only.tsv"
        failures=$((failures + 1))
    fi
done

note "== building peers (bench/peers/build.sh) [$(($(date +%s) - start_s)) s]"
if [ ${#BENCHES[@]} -eq 0 ]; then
    note "   no peer benchmark selected"
elif [ -x bench/peers/build.sh ]; then
    if ! bench/peers/build.sh >"$RAW/build-peers.log" 2>&1; then
        note "   bench/peers/build.sh failed; running what it built (log: $RAW/build-peers.log)"
    fi
    # an implementation skipped now (package gone) must not run a stale program
    for impl in $(sed -n 's/^skip \([^:]*\):.*/\1/p' "$RAW/build-peers.log"); do
        for b in "${ALL_BENCHES[@]}"; do rm -f "$BIN/$impl-$b"; done
    done
    grep -i '^skip' "$RAW/build-peers.log" | sed 's/^/   /' >&2 || true
    # a peer program that failed to build ("FAILED impl-bench:") is FAILED
    for name in $(sed -n 's/^FAILED \([^:]*\):.*/\1/p' "$RAW/build-peers.log"); do
        for b in "${BENCHES[@]}"; do
            [ "${name%-"$b"}" != "$name" ] || continue
            note "   ${name}: BUILD FAILED (log: $RAW/build-peers.log)"
            rm -f "$BIN/$name"
            printf '%s\t%s\t0\t0\t-\tbuild failed\n' "$b" "${name%-"$b"}" >>"$RAW/runs.tsv"
            failures=$((failures + 1))
        done
    done
else
    note "   bench/peers/build.sh not found: tokengate only"
fi

# Implementations of a benchmark that were built: tokengate first, serial
# last, the peers in between by name.
impls_of() {
    local b=$1 f name list=()
    for f in "$BIN"/*-"$b"; do
        [ -x "$f" ] && [ -f "$f" ] || continue
        name=${f##*/}; name=${name%-"$b"}
        list+=("$name")
    done
    [ ${#list[@]} -gt 0 ] || return 0
    printf '%s\n' "${list[@]}" | awk '{ k = ($0 == "tokengate") ? 0 : ($0 == "serial") ? 2 : 1; print k "\t" $0 }' \
        | sort -k1,1n -k2,2 | cut -f2
}

# Every implementation name seen for any benchmark.
all_impls() {
    local b
    { for b in "${BENCHES[@]}"; do impls_of "$b"; done; tail -n +2 "$RAW/runs.tsv" | cut -f2; } | awk '!seen[$0]++' \
        | awk '{ k = ($0 == "tokengate") ? 0 : ($0 == "serial") ? 2 : 1; print k "\t" $0 }' \
        | sort -k1,1n -k2,2 | cut -f2
}

# --------------------------------------------------------------------- run

# hyperfine JSON -> "name<TAB>seconds<TAB>exit code" per command (runs = 1).
parse_hyperfine() {
    awk '
        /"command":/ { s = $0; sub(/^[^:]*: *"/, "", s); sub(/",? *$/, "", s); name = s }
        /"times": \[/ { mode = "t"; next }
        /"exit_codes": \[/ { mode = "e"; next }
        /\]/ { mode = ""; next }
        mode == "t" { t = $1; sub(/,$/, "", t); time[name] = t }
        mode == "e" { e = $1; sub(/,$/, "", e); code[name] = e; order[++n] = name }
        END { for (i = 1; i <= n; i++) print order[i] "\t" time[order[i]] "\t" code[order[i]] }
    ' "$1"
}

max_rounds=0
for b in "${BENCHES[@]}"; do r=$(bench_rounds "$b"); [ "$r" -gt "$max_rounds" ] && max_rounds=$r; done
[ ${#TG_ONLY[@]} -gt 0 ] && [ "$rounds" -gt "$max_rounds" ] && max_rounds=$rounds

# run_tg_only NAME ROUND: one run of a TokenGate-only program, checked like the
# others (exit status, timeout, a RESULT line with ok=1), into tg_only.tsv.
run_tg_only() {
    local x=$1 round=$2 o t0 t1 code status wall
    [ -x "$BIN/tokengate-$x" ] || return 0
    mkdir -p "$RAW/$x"
    o=$RAW/$x/tokengate.r$round
    t0=$(date +%s%N)
    code=0
    timeout -k 5 "$timeout_s" "$BIN/tokengate-$x" $qarg >"$o.out" 2>"$o.err" || code=$?
    t1=$(date +%s%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    status=ok
    if [ "$code" != 0 ]; then
        if [ "$code" = 124 ] || [ "$code" = 137 ]; then status="timeout (${timeout_s} s)"; else status="exit $code"; fi
    elif ! grep -q "^RESULT bench=$x .*ok=1" "$o.out" 2>/dev/null; then
        status="no RESULT line with ok=1"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$x" "$round" "$wall" "$code" "$status" >>"$RAW/tg_only.tsv"
    if [ "$status" != ok ]; then
        failures=$((failures + 1))
        note "   FAILED: tokengate-$x round $round: $status"
        tail -n 5 "$o.err" 2>/dev/null | sed 's/^/     /' >&2 || true
        note "[$round/$rounds] $(printf '%-9s' "$x") tokengate ${wall}s(FAILED)"
    else
        note "[$round/$rounds] $(printf '%-9s' "$x") tokengate ${wall}s"
    fi
}

qarg=""
[ "$quick" = 1 ] && qarg=$QUICK_ARG

for ((round = 1; round <= max_rounds; round++)); do
    for b in "${BENCHES[@]}"; do
        [ "$round" -le "$(bench_rounds "$b")" ] || continue
        mapfile -t impls < <(impls_of "$b")
        [ ${#impls[@]} -gt 0 ] || continue
        # rotate the starting implementation each round
        n=${#impls[@]}
        order=()
        for ((i = 0; i < n; i++)); do order+=("${impls[$(((i + round - 1) % n))]}"); done
        mkdir -p "$RAW/$b"
        cmds=()
        env_prefix=""
        [ "$b" = io ] && [ -n "$io_tmpdir" ] && env_prefix="TMPDIR=$io_tmpdir "
        for impl in "${order[@]}"; do
            o=$RAW/$b/$impl.r$round
            cmds+=(-n "$impl" "${env_prefix}timeout -k 5 $timeout_s $BIN/$impl-$b $qarg >$o.out 2>$o.err")
        done
        json=$RAW/$b/hyperfine.r$round.json
        if ! hyperfine --warmup "$(bench_warmup "$b")" --runs 1 -i --style none \
                --export-json "$json" "${cmds[@]}" >"$RAW/$b/hyperfine.r$round.log" 2>&1; then
            note "   hyperfine failed for $b round $round (log: $RAW/$b/hyperfine.r$round.log)"
        fi
        line="[$round/$(bench_rounds "$b")] $(printf '%-9s' "$b")"
        [ -f "$json" ] || : >"$json"
        # an implementation missing from the JSON (hyperfine itself failed)
        for impl in "${order[@]}"; do
            parse_hyperfine "$json" | cut -f1 | grep -qx -- "$impl" && continue
            note "   FAILED: $impl-$b round $round: no timing from hyperfine"
            printf '%s\t%s\t%s\t0\t-\thyperfine failed\n' "$b" "$impl" "$round" >>"$RAW/runs.tsv"
            failures=$((failures + 1))
        done
        while IFS=$'\t' read -r impl wall code; do
            o=$RAW/$b/$impl.r$round
            status=ok
            if [ "$code" != 0 ]; then
                if [ "$code" = 124 ] || [ "$code" = 137 ]; then status="timeout (${timeout_s} s)"; else status="exit $code"; fi
            elif ! grep -q "^RESULT bench=$b .*ok=1" "$o.out" 2>/dev/null; then
                status="no RESULT line with ok=1"
            fi
            if [ "$status" != ok ]; then
                failures=$((failures + 1))
                note "   FAILED: $impl-$b round $round: $status"
                tail -n 5 "$o.err" 2>/dev/null | sed 's/^/     /' >&2 || true
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$impl" "$round" "$wall" "$code" "$status" >>"$RAW/runs.tsv"
            line+=$(printf ' %s %.3fs' "$impl" "$wall")
            [ "$status" = ok ] || line+="(FAILED)"
        done < <(parse_hyperfine "$json")
        note "$line"
    done
    if [ "$round" -le "$rounds" ]; then
        for x in "${TG_ONLY[@]}"; do run_tg_only "$x" "$round"; done
    fi
done
METG_MD=
if [ "$RUN_METG" = 1 ]; then
    note "== the task-granularity sweep (bench/metg/metg.sh$([ "$quick" = 1 ] && echo ' --quick'))"
    metg_args=()
    [ "$quick" = 1 ] && metg_args=(--quick)
    if bench/metg/metg.sh "${metg_args[@]}" >"$RAW/metg.log" 2>&1; then
        sed 's/^/   /' "$RAW/metg.log" | grep -E 'METG|pattern|wrote' >&2 || true
    else
        failures=$((failures + 1))
        note "   FAILED: bench/metg/metg.sh"
        tail -n 20 "$RAW/metg.log" | sed 's/^/     /' >&2
    fi
    if [ "$quick" = 1 ]; then METG_MD=build/bench/metg/quick/METG.md; else METG_MD=bench/METG.md; fi
fi
run_s=$(($(date +%s) - start_s))
note "== runs done [${run_s} s], writing $OUT_MD"

# ------------------------------------------------------------------ report

# The primary figure of each benchmark (bench=key), whether lower or higher
# is better, and the secondary figures shown beside it.
PRIMARY="empty=tokens_per_s gather=tokens_per_s held=tokens_per_s spawn=tokens_per_s fib=seconds skynet=seconds pingpong=median_us
         waves=seconds leibniz=seconds burst=sustained_ratio memory=bytes_per_token io=seconds"
DIRECTION="tokens_per_s=higher seconds=lower median_us=lower sustained_ratio=higher
           bytes_per_token=lower"
declare -A METRIC=() BETTER=()
for kv in $PRIMARY; do METRIC[${kv%%=*}]=${kv#*=}; done
for kv in $DIRECTION; do BETTER[${kv%%=*}]=${kv#*=}; done
declare -A EXTRAS=([empty]=seconds [gather]=seconds [held]=seconds [spawn]=seconds [fib]=value [skynet]=value
    [pingpong]="p99_us on_worker" [leibniz]="pi error" [burst]=burst_ratio
    [memory]=max_rss_kb [waves]=tokens_per_s [io]="ideal_ratio ideal_s peak_json peak_log peak_blob")
declare -A TITLE=(
    [empty]="one outside thread submits 1,000,000 empty tasks, then waits for all"
    [gather]="1,000,000 tasks with held handles: tokengate tg_submit_batch, then tg_gather_release of every value and outcome; the peers run their empty program (no handles to hold)"
    [held]="1,000,000 tasks with held handles: tokengate tg_submit each, tg_wait_all, tg_wait_release each; the peers run their empty program"
    [spawn]="1,010,101 tasks in a fan-out tree of width 100, each submitted from inside its running parent, which waits for its children"
    [fib]="fib(30), one task per call n >= 2 (1,346,268 tasks), each parent waits on its two children"
    [skynet]="1,000,000 leaves in a 10-ary tree, every node a task (1,111,111 tasks)"
    [pingpong]="an outside thread submits one task and awaits it, 100,000 rounds"
    [waves]="15 doubling waves of 4 ... 65,536 mixed tasks (primes, string, sort, SHA-256 chain), 131,068 in all"
    [leibniz]="1,000,000 term tasks -> 1,000 chunks -> 10 partials -> 1"
    [burst]="8 medium tasks released at once (burst_ratio), then a 10 s window of random mixed bursts (sustained_ratio)"
    [memory]="1,000,000 live (unfinished) tasks at once"
    [io]="4,000 JSON file writes read back, 4,000 log-line appends and 400 64 KiB blob writes, each with a modelled device latency (a sleep of 2, 0.5 and 5 ms), and 2,000 CPU tasks of about 200 us, 10,400 tasks submitted at once")

# One pass over every run. Prints, tab-separated:
#   S bench impl status ok_runs runs median_round   (status: ok or the first failure)
#   M bench impl key median formatted               (median over the ok runs; wall: hyperfine's)
#   B bench best_peer best_peer_by_wall
#   R bench impl ratio wall_ratio
# The best peer is the best implementation other than tokengate and serial
# with no failed run; in pingpong it must also have run the task on another
# thread in more than half of the rounds (on_worker > 0.5), so that its
# median round is a hand-off between threads.
aggregate() {
    awk -v raw="$RAW" -v primary="$PRIMARY" -v direction="$DIRECTION" '
    function fmt(k, v) {
        if (v == "") return "-"
        if (isnum(v)) v = v + 0
        if (k == "tokens_per_s") return (v >= 1e6) ? sprintf("%.2f M/s", v / 1e6) : sprintf("%.1f k/s", v / 1e3)
        if (k == "seconds" || k == "wall" || k == "ideal_s") return (v < 1) ? sprintf("%.1f ms", v * 1e3) : sprintf("%.3f s", v)
        if (k ~ /_us$/) return sprintf("%.2f us", v)
        if (k ~ /ratio$/) return sprintf("%.2fx", v)
        if (k == "on_worker") return sprintf("%.0f%%", v * 100)
        if (k == "bytes_per_token") return sprintf("%.1f B", v)
        if (k ~ /_kb$/) return sprintf("%.1f MiB", v / 1024)
        if (k == "error") return sprintf("%.1e", v)
        if (k == "pi") return sprintf("%.10f", v)
        return v
    }
    function isnum(v) { return v ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ }
    function addval(bi, k, v,   id) {
        id = bi SUBSEP k
        if (!(id in cnt)) keys[bi] = keys[bi] " " k
        cnt[id]++
        vals[id, cnt[id]] = v
    }
    # sorts a[1..n] ascending, carrying c[] along
    function sort2(a, c, n,   i, j, t, u) {
        for (i = 2; i <= n; i++) {
            t = a[i]; u = c[i]
            for (j = i - 1; j >= 1 && a[j] > t; j--) { a[j + 1] = a[j]; c[j + 1] = c[j] }
            a[j + 1] = t; c[j + 1] = u
        }
    }
    BEGIN {
        FS = "\t"
        n = split(primary, p, /[ \n]+/)
        for (i = 1; i <= n; i++) if (split(p[i], q, "=") == 2) prim[q[1]] = q[2]
        n = split(direction, p, /[ \n]+/)
        for (i = 1; i <= n; i++) if (split(p[i], q, "=") == 2) dir[q[1]] = q[2]
    }
    NR == 1 { next }
    {
        b = $1; im = $2; r = $3; bi = b SUBSEP im
        if (!(bi in runs)) order[++npairs] = bi
        runs[bi]++
        if ($6 != "ok") { if (!(bi in fail)) fail[bi] = "round " r ": " $6; next }
        okruns[bi]++
        addval(bi, "wall", $4)
        file = raw "/" b "/" im ".r" r ".out"
        while ((getline line < file) > 0) {
            if (index(line, "RESULT bench=" b " ") != 1) continue
            m = split(line, f, " ")
            for (j = 2; j <= m; j++) {
                e = index(f[j], "=")
                if (!e) continue
                k = substr(f[j], 1, e - 1); v = substr(f[j], e + 1)
                if (k == "bench" || k == "impl" || k == "ok") continue
                addval(bi, k, v)
                if (k == prim[b]) { pv[bi, okruns[bi]] = v + 0; pr[bi, okruns[bi]] = r }
            }
            break
        }
        close(file)
    }
    END {
        for (x = 1; x <= npairs; x++) {
            bi = order[x]; split(bi, s, SUBSEP); b = s[1]; im = s[2]
            n = okruns[bi] + 0; mr = ""
            if (n > 0) {
                for (i = 1; i <= n; i++) { a[i] = pv[bi, i]; c[i] = pr[bi, i] }
                sort2(a, c, n)
                mr = c[int((n + 1) / 2)]
            }
            printf "S\t%s\t%s\t%s\t%d\t%d\t%s\n", b, im, (bi in fail) ? fail[bi] : "ok", n, runs[bi], mr
            nk = split(keys[bi], kk, " ")
            for (i = 1; i <= nk; i++) {
                id = bi SUBSEP kk[i]
                if (isnum(vals[id, 1])) {
                    for (j = 1; j <= cnt[id]; j++) { a[j] = vals[id, j] + 0; c[j] = "" }
                    sort2(a, c, cnt[id])
                    j = cnt[id]
                    med = (j % 2) ? a[(j + 1) / 2] : (a[j / 2] + a[j / 2 + 1]) / 2
                    med = sprintf("%.10g", med)
                } else med = vals[id, 1]
                M[bi, kk[i]] = med
                printf "M\t%s\t%s\t%s\t%s\t%s\n", b, im, kk[i], med, fmt(kk[i], med)
            }
        }
        for (x = 1; x <= npairs; x++) {
            bi = order[x]; split(bi, s, SUBSEP); b = s[1]; im = s[2]
            if (im == "tokengate" || im == "serial" || (bi in fail) || !((bi, prim[b]) in M)) continue
            if (b == "pingpong" && M[bi, "on_worker"] + 0 <= 0.5) continue
            v = M[bi, prim[b]] + 0; w = M[bi, "wall"] + 0
            if (!(b in best) || (dir[prim[b]] == "lower" ? v < best[b] : v > best[b])) { best[b] = v; bestimpl[b] = im }
            if (!(b in bestw) || w < bestw[b]) { bestw[b] = w; bestwimpl[b] = im }
        }
        for (b in bestimpl) printf "B\t%s\t%s\t%s\n", b, bestimpl[b], bestwimpl[b]
        for (x = 1; x <= npairs; x++) {
            bi = order[x]; split(bi, s, SUBSEP); b = s[1]; im = s[2]
            if (!(b in best) || !((bi, prim[b]) in M)) continue
            v = M[bi, prim[b]] + 0; w = M[bi, "wall"] + 0
            if (dir[prim[b]] == "lower") r = (best[b] > 0) ? v / best[b] : 0
            else r = (v > 0) ? best[b] / v : 0
            printf "R\t%s\t%s\t%.4f\t%.4f\n", b, im, r, (bestw[b] > 0) ? w / bestw[b] : 0
        }
    }' "$RAW/runs.tsv"
}

declare -A STATUS=() OKN=() NRUN=() MROUND=() MED=() FMT=() RATIO=() WRATIO=() BEST=() BEST_WALL=()
while IFS=$'\t' read -r t f1 f2 f3 f4 f5 f6; do
    case $t in
    S) STATUS[$f1,$f2]=$f3; OKN[$f1,$f2]=$f4; NRUN[$f1,$f2]=$f5; MROUND[$f1,$f2]=$f6 ;;
    M) MED[$f1,$f2,$f3]=$f4; FMT[$f1,$f2,$f3]=$f5 ;;
    B) BEST[$f1]=$f2; BEST_WALL[$f1]=$f3 ;;
    R) RATIO[$f1,$f2]=$f3; WRATIO[$f1,$f2]=$f4 ;;
    esac
done < <(aggregate)

# n/a reason for (bench, impl): the first clause of the "why" cell of the
# NA.md table row "| impl | bench, bench | why |", or build.sh's skip line
na_reason() {
    local b=$1 impl=$2 reason=""
    if [ -f "$NA_MD" ]; then
        reason=$(awk -F'|' -v i="$impl" -v b="$b" '
            { name = $2; gsub(/^ +| +$/, "", name) }
            name == i {
                n = split($3, list, /[ ,]+/)
                for (k = 1; k <= n; k++) if (list[k] == b) {
                    why = $4; gsub(/^ +| +$/, "", why)
                    sub(/[:.;] .*/, "", why); print why; exit
                }
            }' "$NA_MD")
    fi
    if [ -z "$reason" ] && [ -f "$RAW/build-peers.log" ]; then
        reason=$(sed -n "s/^skip $impl: //p" "$RAW/build-peers.log" | head -n 1)
    fi
    echo "${reason:-not built}"
}

cell_ratio() { if [ -n "$1" ]; then printf '%.2f' "$1"; else echo "-"; fi; }

# The TokenGate-only programs: per program its status (ok or the first
# failure), ok runs, runs, and the median over the ok runs of every numeric
# key of its RESULT line.
declare -A XSTATUS=() XOKN=() XNRUN=() XMED=()
while IFS=$'\t' read -r t f1 f2 f3 f4; do
    case $t in
    S) XSTATUS[$f1]=$f2; XOKN[$f1]=$f3; XNRUN[$f1]=$f4 ;;
    M) XMED[$f1,$f2]=$f3 ;;
    esac
done < <(awk -F'\t' -v raw="$RAW" '
    function isnum(v) { return v ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ }
    NR == 1 { next }
    {
        x = $1
        if (!(x in runs)) order[++n] = x
        runs[x]++
        if ($5 != "ok") { if (!(x in fail)) fail[x] = ($2 == 0 ? "" : "round " $2 ": ") $5; next }
        okn[x]++
        file = raw "/" x "/tokengate.r" $2 ".out"
        vals[x, "wall", okn[x]] = $3; keys[x] = keys[x] (index(keys[x], " wall ") ? "" : " wall ")
        while ((getline line < file) > 0) {
            if (index(line, "RESULT bench=" x " ") != 1) continue
            m = split(line, f, " ")
            for (j = 2; j <= m; j++) {
                e = index(f[j], "=")
                if (!e) continue
                k = substr(f[j], 1, e - 1); v = substr(f[j], e + 1)
                if (!isnum(v)) continue
                if (!index(keys[x], " " k " ")) keys[x] = keys[x] " " k " "
                vals[x, k, okn[x]] = v + 0
            }
            break
        }
        close(file)
    }
    END {
        for (i = 1; i <= n; i++) {
            x = order[i]
            printf "S\t%s\t%s\t%d\t%d\n", x, (x in fail) ? fail[x] : "ok", okn[x], runs[x]
            nk = split(keys[x], kk, " ")
            for (q = 1; q <= nk; q++) {
                c = 0
                for (r = 1; r <= okn[x]; r++) if ((x, kk[q], r) in vals) a[++c] = vals[x, kk[q], r]
                if (!c) continue
                for (p = 2; p <= c; p++) { t = a[p]; for (o = p - 1; o >= 1 && a[o] > t; o--) a[o + 1] = a[o]; a[o + 1] = t }
                med = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
                printf "M\t%s\t%s\t%.10g\n", x, kk[q], med
            }
        }
    }' "$RAW/tg_only.tsv")

# seconds as "12.3 ms" or "1.234 s"
fmt_s() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else if (v < 1) printf "%.1f ms\n", v * 1e3; else printf "%.3f s\n", v }'; }
# thousands separators: 96000 -> 96,000
fmt_int() { printf '%s' "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }

# The section "Task granularity (METG)": the two tables of metg.sh's report.
metg_report() {
    [ -n "$METG_MD" ] || return 0
    echo "## Task granularity (METG)"
    echo
    if [ ! -f "$METG_MD" ]; then echo "bench/metg/metg.sh wrote no report (FAILED)."; echo; return 0; fi
    echo "\`bench/metg/metg.sh$([ "$quick" = 1 ] && echo ' --quick')\`: a 2-wide task graph per dependency pattern (trivial, 1-D stencil,"
    echo "tree, FFT butterfly, nearest neighbours with radix 3), swept from 100 ms tasks down to 1 us, the"
    echo "systems interleaved at each size. METG(50%) is the smallest task granularity at which a"
    echo "system still reaches half of the best throughput (Task Bench, Slaughter et al., SC'20)."
    echo "TokenGate submits one token per task with \`tg_submit_after\`; oneTBB uses \`flow::graph\`,"
    echo "both OpenMPs \`depend\` clauses. Method, sweeps and commands: [$METG_MD]($([ "$quick" = 1 ] && echo "../$METG_MD" || echo METG.md))."
    echo
    awk '/^## METG\(50%\) in us/ { on = 1 } /^## Sweeps/ { on = 0 } on { sub(/^## /, "### "); print }' "$METG_MD"
    [ "$quick" = 1 ] || echo "![efficiency against task granularity](metg.svg)"
    echo
}

# The section "Locality and SHA-256" (empty when neither was selected).
tg_only_report() {
    [ ${#TG_ONLY[@]} -gt 0 ] || return 0
    local x st
    echo "## Locality and SHA-256"
    echo
    echo "TokenGate-only benchmarks: no peer has sticky keys or a SHA-256 of its own, so they"
    echo "are not in the tables above. Each program ran once per round ($rounds round$([ "$rounds" = 1 ] || echo s)), after"
    echo "the round's other benchmarks; every figure below is the median over the rounds of"
    echo "the program's own figure (itself a median of its repetitions)."
    echo
    for x in "${TG_ONLY[@]}"; do
        st=${XSTATUS[$x]:-}
        case $x in
        locality)
            echo "### locality: sticky keys against free routing"
            echo
            echo "Keys with a private working set each and a stream of small tokens, each reading and"
            echo "writing part of its key's set, consecutive tokens on different keys (\`bench/locality.c\`"
            echo "says why and what the figures are made of). The same stream runs with an op that has"
            echo "\`sticky_anchor\` (argument: the key; its tokens run on the key's core) and with the"
            echo "identical op without it (routed freely). free/sticky above 1.00 is the time sticky keys"
            echo "save. Lock waits: the free mode's waits for a key held by the other core (time summed"
            echo "over the workers); keys moved: keys of a sticky run whose tokens ran on more than one core."
            echo "Core round trip: a cache line from the first CPU to the second and back, before and after"
            echo "the runs; on a VM it depends on where the host places the virtual CPUs, and so does the"
            echo "gain (the transfers between the cores are what sticky keys avoid)."
            echo
            echo "| keys x set | window | tokens | workers | sticky | free | free/sticky | free lock waits | sticky keys moved | core round trip | wall | runs ok |"
            echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            if [ -z "$st" ]; then
                echo "| not built (${TG_ONLY_SRC[$x]} missing) | | | | | | | | | | | |"
            elif [ "$st" != ok ]; then
                echo "| **FAILED** ($st) | | | | | | | | | | | ${XOKN[$x]}/${XNRUN[$x]} |"
            else
                printf '| %s x %s KiB | %s KiB | %s | %s | %s | %s | **%.2fx** | %s (%s) | %s | %.0f / %.0f ns | %s | %s |\n' \
                    "${XMED[$x,keys]:-?}" "${XMED[$x,set_kib]:-?}" "${XMED[$x,window_kib]:-?}" \
                    "$(fmt_int "${XMED[$x,tokens]:-?}")" "${XMED[$x,threads]:-?}" \
                    "$(fmt_s "${XMED[$x,sticky_seconds]:-}")" "$(fmt_s "${XMED[$x,free_seconds]:-}")" \
                    "${XMED[$x,ratio]:-0}" "$(fmt_int "${XMED[$x,free_contended]:-?}")" \
                    "$(fmt_s "${XMED[$x,free_lock_wait_seconds]:-}")" "${XMED[$x,sticky_moved_keys]:-?}" \
                    "${XMED[$x,round_trip_ns_before]:-0}" "${XMED[$x,round_trip_ns_after]:-0}" \
                    "$(fmt_s "${XMED[$x,wall]:-}")" "${XOKN[$x]}/${XNRUN[$x]}"
            fi
            echo
            ;;
        sha256)
            echo "### sha256: tg_sha256 against sha256sum"
            echo
            echo "The same pseudo-random bytes hashed by one \`tg_sha256\` call in memory and by one"
            echo "\`sha256sum FILE\` run (its time includes starting the process and reading the file"
            echo "from the page cache); both digests must agree (\`bench/tokengate/sha256.c\`). MB = 10^6"
            echo "bytes. The ratio is tg_sha256's time / sha256sum's: below 1.00 tg_sha256 is faster."
            echo
            echo "| bytes | tg_sha256 | sha256sum | tg_sha256 / sha256sum | wall | runs ok |"
            echo "|---:|---:|---:|---:|---:|---:|"
            if [ -z "$st" ]; then
                echo "| not built (${TG_ONLY_SRC[$x]} missing) | | | | | |"
            elif [ "$st" != ok ]; then
                echo "| **FAILED** ($st) | | | | | ${XOKN[$x]}/${XNRUN[$x]} |"
            else
                printf '| %s | %.1f MB/s (%s) | %.1f MB/s (%s) | **%.2f** | %s | %s |\n' \
                    "$(fmt_int "${XMED[$x,bytes]:-?}")" "${XMED[$x,mb_per_s]:-0}" \
                    "$(fmt_s "${XMED[$x,seconds]:-}")" "${XMED[$x,sha256sum_mb_per_s]:-0}" \
                    "$(fmt_s "${XMED[$x,sha256sum_seconds]:-}")" "${XMED[$x,ratio]:-0}" \
                    "$(fmt_s "${XMED[$x,wall]:-}")" "${XOKN[$x]}/${XNRUN[$x]}"
            fi
            echo
            ;;
        esac
    done
    echo "<details><summary>RESULT lines of every run of these programs</summary>"
    echo
    echo '```'
    awk -F'\t' -v raw="$RAW" 'NR > 1 {
        line = ""
        file = raw "/" $1 "/tokengate.r" $2 ".out"
        while ((getline l < file) > 0) if (index(l, "RESULT ") == 1) { line = substr(l, 8); break }
        close(file)
        printf "round %s wall=%.4f exit=%s %s%s\n", $2, $3, $4, (line == "" ? "bench=" $1 " impl=tokengate" : line),
            ($5 == "ok" ? "" : " FAILED: " $5) }' "$RAW/tg_only.tsv"
    echo '```'
    echo
    echo "</details>"
    echo
}

# The notes under the io table: the ideal bound, the peaks and where the
# files were written.
io_report() {
    local dir=${io_tmpdir:-${TMPDIR:-/tmp}}
    echo "ideal_s is the bound \`wl_io_ideal_s\` (bench/common/workload.h) computes: each I/O kind"
    echo "with as many ops in flight as its TokenGate tier allows (JSON 10, log 50, blob 25:"
    echo "ceil(ops / cap) x its sleep) and the CPU tasks spread over the cores (tasks x one"
    echo "task's time measured before the run / cores), the largest of these; ideal_ratio is"
    echo "seconds / ideal_s. peak_json, peak_log, peak_blob: the most ops of the kind seen"
    echo "running at the same instant (TokenGate: up to its tier's cap; a pool whose threads"
    echo "block: at most its threads). The files were written under $dir ($(stat -f -c %T "$dir" 2>/dev/null || echo '?'))."
    echo
}

mapfile -t IMPLS < <(all_impls)

# waves: "wave tokens impl tokens_per_s" of each implementation's median run
: >"$RAW/waves-all.tsv"
for impl in $(impls_of waves); do
    r=${MROUND[waves,$impl]:-}
    [ -n "$r" ] || continue
    awk -v i="$impl" '/^WAVE / {
        w = ""; n = ""; t = ""
        for (j = 2; j <= NF; j++) {
            split($j, kv, "=")
            if (kv[1] == "wave") w = kv[2]; else if (kv[1] == "tokens") n = kv[2]
            else if (kv[1] == "tokens_per_s") t = kv[2]
        }
        print w "\t" n "\t" i "\t" t }' "$RAW/waves/$impl.r$r.out" >>"$RAW/waves-all.tsv"
done

{
    echo "# Benchmark results"
    echo
    echo "Written by \`bench/run.sh\`$([ "$quick" = 1 ] && echo " --quick") on $(date -u '+%Y-%m-%d %H:%M UTC');"
    echo "do not edit by hand (the change log at the end comes from \`bench/CHANGELOG.md\`)."
    if [ "$quick" = 1 ]; then
        echo
        echo "**Quick run**: the programs' quick sizes (about 10x smaller than the sizes named"
        echo "below; burst's window 1 s), 1 round; not comparable with a full run."
    fi
    echo
    echo "## Machine and versions"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1) |"
    echo "| cores | $(nproc) usable ($(lscpu | sed -n 's/^CPU(s):[[:space:]]*//p' | head -n 1) online), $(lscpu | sed -n 's/^Thread(s) per core:[[:space:]]*//p') thread(s) per core |"
    echo "| memory | $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
    echo "| kernel | $(uname -sr) |"
    echo "| gcc | $(gcc --version 2>/dev/null | head -n 1) |"
    echo "| clang | $(clang --version 2>/dev/null | head -n 1 || echo missing) |"
    for p in libtbb-dev libomp-dev cthreadpool-dev libc6 hyperfine gnuplot-nox; do
        v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
        echo "| $p | ${v:-not installed} |"
    done
    for p in $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'libomp5*' 'libgomp1' 'libtbb12' 2>/dev/null | awk '$1 == "ii" { print $2 }' || true); do
        echo "| $p | $(dpkg-query -W -f='${Version}' "$p") |"
    done
    echo "| tokengate.h | $(sed -n 's/^#define TG_VERSION_STRING "\(.*\)"/\1/p' tokengate.h), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- tokengate.h 2>/dev/null || echo ' + uncommitted changes') |"
    echo "| build | \`-O2\`; tokengate with its default config (memory: see its program) |"
    echo
    echo "## How to read this"
    echo
    echo "- Each round ran every implementation of a benchmark once, interleaved with the"
    echo "  others (one hyperfine invocation per round, \`--warmup 1 --runs 1 --export-json\`,"
    echo "  the first implementation rotating). Rounds: $rounds per benchmark$([ "$quick" = 0 ] && echo "; burst 1 round"); burst runs"
    echo "  without warmup (its window is $([ "$quick" = 1 ] && echo 1 || echo 10) s per implementation)."
    echo "- **metric** is the program's own measurement of its timed region (median over the"
    echo "  rounds); **wall** is hyperfine's time of the whole program (start-up, setup and"
    echo "  verification included)."
    echo "- **ratio** is the cost relative to the best peer: time / best time, or best rate /"
    echo "  rate. 1.00 is the best peer; below 1.00 is better than every peer. The best peer"
    echo "  is the best of the other libraries; serial is a reference, not a peer. In"
    echo "  pingpong only a peer whose task ran on another thread in more than half of the"
    echo "  rounds (on_worker > 50%, so its median round is a hand-off) can be the best"
    echo "  peer: the others mostly run the task on the waiting thread itself, a function"
    echo "  call rather than a hand-off between threads."
    echo "- Every program checks its own result and exits non-zero when it is wrong: such"
    echo "  a run is **FAILED** here, never averaged away."
    echo "- The whole run took ${run_s} s."
    echo
    echo "## Summary: ratio to the best peer (program's own metric)"
    echo
    printf '| benchmark | metric | best peer |'; for impl in "${IMPLS[@]}"; do printf ' %s |' "$impl"; done; echo
    printf '|---|---|---|'; for impl in "${IMPLS[@]}"; do printf '%s' '---:|'; done; echo
    for b in "${BENCHES[@]}"; do
        key=${METRIC[$b]}
        printf '| %s | %s (%s is better) | %s |' "$b" "$key" "${BETTER[$key]}" "${BEST[$b]:--}"
        for impl in "${IMPLS[@]}"; do
            if [ -z "${STATUS[$b,$impl]+x}" ]; then printf ' n/a |'
            elif [ "${STATUS[$b,$impl]}" != ok ]; then printf ' **FAILED** |'
            else printf ' %s |' "$(cell_ratio "${RATIO[$b,$impl]:-}")"
            fi
        done
        echo
    done
    echo
    echo "![ratio to the best peer per benchmark](ratios.svg)"
    echo
    for b in "${BENCHES[@]}"; do
        key=${METRIC[$b]}
        echo "## $b"
        echo
        echo "${TITLE[$b]}."
        echo
        echo "| implementation | threads | $key (median) | ratio | ${EXTRAS[$b]} | wall (median) | wall ratio | runs ok |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for impl in "${IMPLS[@]}"; do
            if [ -z "${STATUS[$b,$impl]+x}" ]; then
                echo "| $impl | | n/a | | $(na_reason "$b" "$impl") | | | |"
                continue
            fi
            extras=""
            for k in ${EXTRAS[$b]}; do
                v=${FMT[$b,$impl,$k]:-}
                [ -n "$v" ] || continue
                if [ "$k" = "${EXTRAS[$b]}" ]; then extras=$v; else extras+="${extras:+, }$k $v"; fi
            done
            threads=${MED[$b,$impl,threads]:-}
            runs="${OKN[$b,$impl]}/${NRUN[$b,$impl]}"
            wall=${FMT[$b,$impl,wall]:--}
            if [ "${STATUS[$b,$impl]}" != ok ]; then
                echo "| $impl | $threads | **FAILED** (${STATUS[$b,$impl]}) | | $extras | $wall | | $runs |"
            else
                echo "| $impl | $threads | ${FMT[$b,$impl,$key]:--} | $(cell_ratio "${RATIO[$b,$impl]:-}") | $extras | $wall | $(cell_ratio "${WRATIO[$b,$impl]:-}") | $runs |"
            fi
        done
        echo
        [ "$b" = io ] && io_report
        if [ "$b" = waves ]; then
            r=${MROUND[waves,tokengate]:-}
            if [ -n "$r" ]; then
                echo "### waves: tokengate per wave (its median run)"
                echo
                echo "concurrency: the most tokens seen running at the same instant; overlap: the"
                echo "tokens' summed run time / the wave's wall time (the original's concurrency ratio)."
                echo
                echo "| wave | tokens | ok | fail | time ms | tokens/s | latency us | concurrency | overlap |"
                echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                awk '/^WAVE / {
                    for (j = 2; j <= NF; j++) { split($j, kv, "="); x[kv[1]] = kv[2] }
                    printf "| %s | %s | %s | %s | %.2f | %.0f | %.1f | %s | %.2fx |\n", x["wave"], x["tokens"],
                        x["ok"], x["fail"], x["seconds"] * 1e3, x["tokens_per_s"], x["latency_us"],
                        x["concurrency"], x["overlap"] }' "$RAW/waves/tokengate.r$r.out"
                echo
            fi
            mapfile -t wimpls < <(impls_of waves)
            if [ -s "$RAW/waves-all.tsv" ]; then
                echo "### waves: tokens/s per wave, every implementation (each one's median run)"
                echo
                printf '| wave | tokens |'; for impl in "${wimpls[@]}"; do printf ' %s |' "$impl"; done; echo
                printf '|---:|---:|'; for impl in "${wimpls[@]}"; do printf '%s' '---:|'; done; echo
                awk -F'\t' -v impls="${wimpls[*]}" '
                    { v[$1, $3] = $4; n[$1] = $2; if ($1 > max) max = $1 }
                    END {
                        k = split(impls, im, " ")
                        for (w = 1; w <= max; w++) {
                            if (!(w in n)) continue
                            printf "| %d | %s |", w, n[w]
                            for (i = 1; i <= k; i++)
                                if ((w, im[i]) in v) printf " %.0f |", v[w, im[i]]; else printf " - |"
                            printf "\n"
                        }
                    }' "$RAW/waves-all.tsv"
                echo
                echo "![tokens/s per wave](waves.svg)"
                echo
            fi
        fi
    done
    tg_only_report
    metg_report
    echo "## Every run"
    echo
    echo "<details><summary>RESULT lines of every timed run, with hyperfine's wall time</summary>"
    echo
    echo '```'
    awk -F'\t' -v raw="$RAW" 'NR > 1 {
        line = ""
        file = raw "/" $1 "/" $2 ".r" $3 ".out"
        while ((getline l < file) > 0) if (index(l, "RESULT ") == 1) { line = substr(l, 8); break }
        close(file)
        printf "round %s wall=%.4f exit=%s %s%s\n", $3, $4, $5, (line == "" ? "bench=" $1 " impl=" $2 : line),
            ($6 == "ok" ? "" : " FAILED: " $6) }' "$RAW/runs.tsv"
    echo '```'
    echo
    echo "</details>"
    echo
    echo "## Not applicable (n/a)"
    echo
    if [ -f "$NA_MD" ]; then
        sed 's/^#/##/' "$NA_MD"
    else
        echo "(bench/peers/NA.md is missing.)"
    fi
    echo
    if [ -s "$RAW/build-peers.log" ] && grep -q '^skip' "$RAW/build-peers.log"; then
        echo "Skipped by bench/peers/build.sh on this machine (\`make bench-peers\` installs them):"
        echo
        grep '^skip' "$RAW/build-peers.log" | sed 's/^/    /'
        echo
    fi
    echo "## Change log"
    echo
    if [ -f "$CHANGELOG" ]; then cat "$CHANGELOG"; else echo "(bench/CHANGELOG.md is missing.)"; fi
} >"$OUT_MD.tmp"
mv "$OUT_MD.tmp" "$OUT_MD"
note "== wrote $OUT_MD [$(($(date +%s) - start_s)) s]"

# ------------------------------------------------------------------- plots

if command -v gnuplot >/dev/null 2>&1; then
    PLOT=$RAW/plot
    mkdir -p "$PLOT"
    # waves.svg: one line per implementation, its median run
    wave_plots=()
    for impl in $(impls_of waves); do
        [ -f "$RAW/waves-all.tsv" ] || break
        awk -F'\t' -v i="$impl" '$3 == i { print $1, $2, $4 }' "$RAW/waves-all.tsv" >"$PLOT/waves-$impl.dat"
        [ -s "$PLOT/waves-$impl.dat" ] && wave_plots+=("'$PLOT/waves-$impl.dat' using 1:3:xtic(2) with linespoints pointtype 7 pointsize 0.5 linewidth 1.5 title '$impl'")
    done
    if [ ${#wave_plots[@]} -gt 0 ]; then
        plot_cmd=$(IFS=,; echo "${wave_plots[*]}")
        gnuplot <<EOF || note "   gnuplot failed for bench/waves.svg"
set terminal svg size 900,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'bench/waves.svg'
set title 'waves: tokens/s per wave (higher is better)$([ "$quick" = 1 ] && echo ', quick run')'
set xlabel 'tokens in the wave'
set ylabel 'tokens/s'
set logscale y
set format y '%.0s%c'
set grid ytics
set key left top
$(printf 'plot %s\n' "$plot_cmd")
EOF
    fi
    # ratios.svg: clustered bars, one group per benchmark
    {
        printf 'bench'; for impl in "${IMPLS[@]}"; do printf ' %s' "$impl"; done; echo
        for b in "${BENCHES[@]}"; do
            printf '%s' "$b"
            for impl in "${IMPLS[@]}"; do
                if [ -n "${STATUS[$b,$impl]+x}" ] && [ "${STATUS[$b,$impl]}" = ok ] && [ -n "${RATIO[$b,$impl]:-}" ]; then
                    printf ' %s' "${RATIO[$b,$impl]}"
                else printf ' ?'; fi
            done
            echo
        done
    } >"$PLOT/ratios.dat"
    ncol=$((${#IMPLS[@]} + 1))
    if [ "$ncol" -gt 1 ]; then
        gnuplot <<EOF || note "   gnuplot failed for bench/ratios.svg"
set terminal svg size 1000,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'bench/ratios.svg'
set title 'cost relative to the best peer (1 = best peer, lower is better)$([ "$quick" = 1 ] && echo ', quick run')'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing '?'
set logscale y
set yrange [0.01:*]
set ylabel 'ratio (log scale)'
set grid ytics
set key outside right top
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 linewidth 2 front
plot for [c=2:$ncol] '$PLOT/ratios.dat' using c:xtic(1) title columnheader(c)
EOF
    fi
    note "== wrote bench/waves.svg bench/ratios.svg"
else
    note "== gnuplot not found: no plots (make bench-peers installs gnuplot-nox)"
fi

note "== done in $(($(date +%s) - start_s)) s, $failures failure(s)"
[ "$failures" -eq 0 ]
