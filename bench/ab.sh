#!/usr/bin/env bash
# bench/ab.sh REV [ROUNDS] [BENCH...]: TokenGate against itself. Builds each
# named program of bench/tokengate (default: fib skynet) twice at -O2, once
# with tokengate.h as it is at git revision REV and once with the working
# tree's, runs the two alternately ROUNDS times (default 11; the order flips
# every round), and prints each one's median seconds and their ratio
# (working tree / REV). Interleaving is what makes the ratio mean anything on
# a shared machine: both see the same noise. Every program checks its own
# result; a run that fails stops the script.
# Environment: CC (default cc).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { echo "usage: $0 REV [ROUNDS] [BENCH...]" >&2; exit 2; }
rev=$1
rounds=${2:-11}
shift $(($# >= 2 ? 2 : 1))
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(fib skynet)
cc=${CC:-cc}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in base head; do
    mkdir -p "$work/$side/bench"
    cp -r bench/tokengate bench/common "$work/$side/bench/"
done
git show "$rev:tokengate.h" >"$work/base/tokengate.h"
cp tokengate.h "$work/head/tokengate.h"
for b in "${benches[@]}"; do
    for side in base head; do
        "$cc" -O2 -pthread -o "$work/$side/$b" "$work/$side/bench/tokengate/$b.c" -lm
    done
done

seconds() {   # the seconds= field of a program's RESULT line
    local out
    out=$("$1") || { echo "$1 failed" >&2; exit 1; }
    case "$out" in *ok=1*) ;; *) echo "$1: result not ok" >&2; exit 1 ;; esac
    sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for b in "${benches[@]}"; do
    : >"$work/$b.base"
    : >"$work/$b.head"
    for ((r = 0; r < rounds; r++)); do
        if ((r % 2)); then order=(head base); else order=(base head); fi
        for side in "${order[@]}"; do seconds "$work/$side/$b" >>"$work/$b.$side"; done
    done
    mb=$(median <"$work/$b.base")
    mh=$(median <"$work/$b.head")
    awk -v b="$b" -v r="$rev" -v mb="$mb" -v mh="$mh" -v n="$rounds" \
        'BEGIN { printf "%-8s %s %.4f s  working tree %.4f s  ratio %.3f  (medians of %d, interleaved)\n", b, r, mb, mh, mh / mb, n }'
done
