#!/usr/bin/env bash
# median.sh RUNS PROGRAM [ARGS...]: runs a benchmark RUNS times; each run must
# exit 0 (the benchmark verifies its own result) and print a line with
# tokens_per_s=R. Prints every run and the median.
set -euo pipefail
runs=$1; shift
values=()
for ((i = 1; i <= runs; i++)); do
    line=$("$@")
    echo "run $i: $line"
    values+=("$(grep -o 'tokens_per_s=[0-9.]*' <<<"$line" | cut -d= -f2)")
done
median=$(printf '%s\n' "${values[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
echo "median of $runs runs: $median tokens/s"
