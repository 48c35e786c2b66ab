#!/usr/bin/env bash
# Build-level checks of `make test`, one group per argument:
#   compile   gcc/clang at -std=c99 and -std=c11 -Wpedantic -Werror, C++, the
#             tokengate benchmarks, and a second definition of the
#             implementation failing to link
#   examples  each examples/NAME.c builds alone with `cc -O2 -pthread` and runs
#   readme    the README's quick start block equals examples/quickstart.c, runs
#   symbols   every symbol the implementation exports starts with tg_
#   taskset   pinning, nested-wait, await, locality and waits-on-any-graph tests on one CPU
#             (taskset -c 0)
#   exports   tg_stats_json accepted by python3 -m json.tool, tg_stats_prometheus
#             by promtool check metrics (tests/exports/dump_stats.c)
# Each group ends with "N passed, N failed" and exits non-zero on a failure.
set -u
cd "$(dirname "$0")/.."
B=build/checks
mkdir -p "$B"
passed=0
failed=0

check() { # check DESCRIPTION COMMAND...
    local desc=$1; shift
    local out
    if out=$("$@" 2>&1); then
        passed=$((passed + 1)); echo "ok   $desc"
    else
        failed=$((failed + 1)); echo "FAIL $desc"; echo "$out" | tail -n 30 | sed 's/^/     /'
    fi
}

refuse() { # refuse DESCRIPTION COMMAND...: the command must fail
    local desc=$1; shift
    if "$@" >/dev/null 2>&1; then
        failed=$((failed + 1)); echo "FAIL $desc (it succeeded)"
    else
        passed=$((passed + 1)); echo "ok   $desc"
    fi
}

compile_group() {
    local cc std
    for cc in gcc clang; do
        for std in c99 c11; do
            check "$cc -std=$std -Wall -Wextra -Wpedantic -Werror" \
                $cc -std=$std -Wall -Wextra -Wpedantic -Werror -pthread \
                tests/compile/compile_check.c -o "$B/compile-$cc-$std"
            check "$cc -std=$std build runs" "$B/compile-$cc-$std"
        done
    done
    for cxx in g++ clang++; do
        check "$cxx -x c++ -std=c++11 -Wall -Wextra -Werror (implementation as C++)" \
            $cxx -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -c tests/compile/compile_check.c \
            -o "$B/compile-$cxx.o"
    done
    local b
    for b in bench/tokengate/*.c; do
        check "$b compiles (-Wall -Wextra -Werror)" cc -O2 -Wall -Wextra -Werror -pthread -fsyntax-only "$b"
    done
    check "a header before the implementation stops with tokengate.h's message" \
        bash -c "gcc -std=gnu11 -pthread tests/compile/include_order.c -o $B/order 2>&1 | grep -q 'a system header was included before the implementation'"
    check "the same with -D_GNU_SOURCE builds and runs" \
        bash -c "gcc -D_GNU_SOURCE -std=c11 -Wall -Wextra -Werror -pthread tests/compile/include_order.c -o $B/order && $B/order"
    refuse "two definitions of the implementation fail to link" \
        gcc -pthread tests/compile/compile_check.c tests/compile/second_impl.c -o "$B/double"
}

examples_group() {
    local f name
    for f in examples/*.c; do
        name=$(basename "$f" .c)
        check "cc -O2 -pthread $f" cc -O2 -pthread "$f" -o "$B/ex-$name"
        check "$f -Wall -Wextra -Werror" cc -O2 -Wall -Wextra -Werror -pthread -fsyntax-only "$f"
        if [[ $name == dashboard ]]; then
            check "$name runs (2 s, any port)" timeout 120 "$B/ex-$name" --any-port --seconds 2
        elif [[ $name != demo ]]; then
            check "$name runs" timeout 120 "$B/ex-$name"
        fi
    done
}

readme_group() {
    awk '/^## Quick start/{q=1} q&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' README.md \
        > "$B/readme_quickstart.c"
    check "README quick start block found" test -s "$B/readme_quickstart.c"
    check "README quick start is examples/quickstart.c" diff -u examples/quickstart.c "$B/readme_quickstart.c"
    awk '/^#if 0 \/\* QUICK START/{q=1;next} q&&/^#endif \/\* QUICK START/{exit} q{print}' tokengate.h \
        > "$B/header_quickstart.c"
    check "tokengate.h's quick start is examples/quickstart.c" diff -u examples/quickstart.c "$B/header_quickstart.c"
    cp "$B/readme_quickstart.c" examples/.readme_quickstart_check.c
    check "README quick start builds" cc -O2 -Wall -Wextra -Werror -pthread \
        examples/.readme_quickstart_check.c -o "$B/readme_quickstart"
    rm -f examples/.readme_quickstart_check.c
    check "README quick start runs" timeout 60 "$B/readme_quickstart"
}

symbols_group() {
    check "implementation object builds" cc -O2 -pthread -c tests/impl.c -o "$B/impl.o"
    local bad
    bad=$(nm -g --defined-only "$B/impl.o" | awk '{print $3}' | grep -v '^tg_' || true)
    check "exported symbols all start with tg_ (got: ${bad:-none other})" test -z "$bad"
    local count
    count=$(nm -g --defined-only "$B/impl.o" | grep -c ' tg_' || true)
    check "the implementation exports the API ($count symbols)" test "$count" -ge 20
}

taskset_group() {
    if ! command -v taskset >/dev/null; then
        failed=$((failed + 1)); echo "FAIL taskset not installed"; return
    fi
    check "tests build" cc -std=c11 -O2 -g -Wall -Wextra -Werror -pthread tests/*.c -o "$B/tests-taskset"
    check "pinning tests under taskset -c 0" taskset -c 0 "$B/tests-taskset" pinning
    check "nested wait tests under taskset -c 0" taskset -c 0 "$B/tests-taskset" nested
    check "await tests under taskset -c 0" taskset -c 0 "$B/tests-taskset" await
    check "conductor tests under taskset -c 0" taskset -c 0 "$B/tests-taskset" conductor_
    check "sticky tests under taskset -c 0" taskset -c 0 "$B/tests-taskset" sticky_
    check "chain waits under taskset -c 0" taskset -c 0 "$B/tests-taskset" waits_chain
    check "stencil waits under taskset -c 0" taskset -c 0 "$B/tests-taskset" waits_stencil
    check "out-of-turn waits under taskset -c 0" taskset -c 0 "$B/tests-taskset" waits_token_run_out_of_turn
}

exports_group() {
    local tool
    for tool in python3 promtool; do
        command -v "$tool" >/dev/null || { failed=$((failed + 1)); echo "FAIL $tool not installed"; return; }
    done
    check "dump_stats builds" cc -std=c11 -O2 -Wall -Wextra -Werror -pthread tests/exports/dump_stats.c \
        -o "$B/dump_stats"
    check "tg_stats_json runs" bash -c "'$B/dump_stats' json > '$B/stats.json'"
    check "python3 -m json.tool accepts tg_stats_json" python3 -m json.tool "$B/stats.json"
    check "tg_stats_prometheus runs" bash -c "'$B/dump_stats' prometheus > '$B/stats.prom'"
    check "promtool check metrics accepts tg_stats_prometheus" bash -c "promtool check metrics < '$B/stats.prom'"
}

case "${1:-}" in
    compile) compile_group ;;
    examples) examples_group ;;
    readme) readme_group ;;
    symbols) symbols_group ;;
    taskset) taskset_group ;;
    exports) exports_group ;;
    *) echo "usage: $0 compile|examples|readme|symbols|taskset|exports" >&2; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
