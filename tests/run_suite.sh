#!/usr/bin/env bash
# Runs every step of `make test`, shows each step's output, and ends with the
# combined line "N passed, N failed". Exits non-zero if any step failed.
set -u
cd "$(dirname "$0")/.."
steps=(test-plain test-native test-asan test-tsan test-cxx test-compile test-examples test-readme test-symbols test-taskset test-exports test-lint)
passed=0
failed=0
for step in "${steps[@]}"; do
    echo "==== make $step"
    log=$(mktemp)
    make --no-print-directory "$step" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    p=0; f=0
    if [[ -n "$line" ]]; then
        p=$(awk '{print $1}' <<<"$line")
        f=$(awk '{print $3}' <<<"$line")
    fi
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; echo "step $step exited with status $rc"; fi
    if [[ -z "$line" && $rc -eq 0 ]]; then f=1; echo "step $step printed no summary line"; fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
