#!/usr/bin/env bash
# Instructions per packet of `netfn bench overhead`'s variants, counted by
# callgrind: a figure that does not move with machine noise, for comparing
# commits. Each variant runs twice, for N and 2N packets; the difference
# divided by N cancels start-up (pool, generator templates, graph build):
#
#   Ir/packet = (Ir(2N) - Ir(N)) / N
#
# Variants: baseline (hand-written loop), framework (runtime + operator
# NFs), runtime-hand (runtime + the hand-written loop as NFs).
#
# Usage: scripts/bench-callgrind.sh            (N=200000, chains 1 and 10)
#        N=100000 CHAINS="1 5" scripts/bench-callgrind.sh
# Needs valgrind (apt-get install valgrind). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
CHAINS=${CHAINS:-"1 10"}
VARIANTS="baseline framework runtime-hand"

if ! command -v valgrind >/dev/null; then
    echo "bench-callgrind: valgrind not found (apt-get install valgrind)" >&2
    exit 1
fi

cargo build --release -p netfn --quiet
bin="${CARGO_TARGET_DIR:-target}/release/netfn"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Instructions executed by one run: ir CHAINS VARIANT PACKETS
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
        "$bin" bench overhead --chains "$1" --variant "$2" --packets "$3" \
        >/dev/null 2>"$work/log"
    local n
    n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/log")
    if [ -z "$n" ]; then
        echo "bench-callgrind: no instruction count for $2, chain $1:" >&2
        cat "$work/log" >&2
        exit 1
    fi
    echo "$n"
}

echo "callgrind: instructions per packet, 64-byte UDP frames, batch 32, N=$N ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
printf '%5s  %-13s %15s %15s %10s\n' NFs variant "Ir(N)" "Ir(2N)" "Ir/packet"
for k in $CHAINS; do
    base=""
    fw=""
    for v in $VARIANTS; do
        a=$(ir "$k" "$v" "$N")
        b=$(ir "$k" "$v" "$((2 * N))")
        per=$(awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
        printf '%5s  %-13s %15s %15s %10s\n' "$k" "$v" "$a" "$b" "$per"
        case $v in
            baseline) base=$per ;;
            framework) fw=$per ;;
        esac
    done
    awk -v k="$k" -v f="$fw" -v b="$base" \
        'BEGIN { printf "%5s  framework/baseline = %.2f\n", k, f / b }'
done
