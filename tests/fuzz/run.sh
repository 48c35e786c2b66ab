#!/usr/bin/env bash
# run.sh - libFuzzer on the monitor's HTTP and WebSocket parsers (`make fuzz`).
#
#   tests/fuzz/run.sh [SECONDS]     SECONDS of fuzzing per harness, 60 if not given;
#                                   0 only replays the seed corpora.
#
# Each harness is built with clang into build/fuzz/, its seeds (tests/fuzz/NAME/)
# are copied into a fresh working corpus build/fuzz/corpus/NAME/ (the seeds in
# the tree are never written to), and it runs for SECONDS. Crash reproducers are
# left as build/fuzz/NAME-crash-*, the fuzzer's output as build/fuzz/NAME.log.
# One check per harness (it built, it ran without a crash); the last line is
# "N passed, N failed", and the exit status is non-zero if any check failed.
set -u -o pipefail

cd "$(dirname "$0")/../.." || exit 1

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh [SECONDS]   (SECONDS: a whole number, 0 replays the seeds only)" >&2
    exit 2
fi

out=build/fuzz
mkdir -p "$out" || exit 1

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found; install it (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
probe=$out/probe
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$probe.c"
if ! clang -fsanitize=fuzzer "$probe.c" -o "$probe" >"$probe.log" 2>&1; then
    echo "fuzz: clang cannot link -fsanitize=fuzzer (the libFuzzer runtime is missing;" >&2
    echo "      Debian: apt-get install libclang-rt-14-dev, or the libclang-rt-N-dev of your clang)" >&2
    sed 's/^/      /' "$probe.log" | tail -n 5 >&2
    exit 1
fi
rm -f "$probe" "$probe.c" "$probe.log"

CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -pthread -I.)
export ASAN_OPTIONS=${ASAN_OPTIONS:-handle_sigill=1:detect_leaks=1}  # a failed check traps (SIGILL): a stack for it too
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

passed=0
failed=0
for name in http ws; do
    src=tests/fuzz/fuzz_$name.c
    bin=$out/fuzz_$name
    log=$out/$name.log
    echo "== fuzz_$name"
    echo "clang ${CFLAGS[*]} $src -o $bin"
    if ! clang "${CFLAGS[@]}" "$src" -o "$bin" >"$out/$name.build.log" 2>&1; then
        cat "$out/$name.build.log"
        echo "FAIL fuzz_$name: did not build"
        failed=$((failed + 1))
        continue
    fi

    corpus=$out/corpus/$name
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp tests/fuzz/"$name"/* "$corpus"/

    args=(-timeout=5 -rss_limit_mb=2048 -artifact_prefix="$out/$name-" -print_final_stats=1)
    if [ "$seconds" -eq 0 ]; then args+=(-runs=0); else args+=(-max_total_time="$seconds"); fi
    [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
    echo "$bin ${args[*]} $corpus"
    touch "$out/$name.stamp"
    "$bin" "${args[@]}" "$corpus" >"$log" 2>&1
    rc=$?

    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
    if [ $rc -eq 0 ] && [ -n "$done_line" ]; then
        runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")
        secs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")
        corpus_n=$(find "$corpus" -type f | wc -l)
        echo "ok   fuzz_$name: $runs executions in $secs s, corpus $corpus_n inputs"
        passed=$((passed + 1))
    else
        echo "---- last lines of $log"
        tail -n 60 "$log"
        echo "----"
        find "$out" -maxdepth 1 -type f -name "$name-*" -newer "$out/$name.stamp" | sort |
            while read -r a; do echo "reproducer $a ($(wc -c <"$a") bytes): $bin $a"; done
        echo "FAIL fuzz_$name: exit status $rc${done_line:+ ($done_line)}"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
