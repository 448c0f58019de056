#!/usr/bin/env bash
# Instructions per packet of the NF library, counted by callgrind: one
# figure per example graph that does not move with machine noise.
#
# For each example graph (examples/<nf>.nf) the whole graph runs twice under
# callgrind, for N and 2N packets (`netfn run FILE --packets N -q`), and so
# does its empty graph: the same source declarations (generator, pcap_in,
# with the same parameters), each straight into a sink. The difference of
# the two runs divided by N cancels start-up (pool, graph build, rule
# loading):
#
#   Ir/packet = (Ir(2N) - Ir(N)) / N
#
# and the NF's own cost is graph - empty. The sinks' checks (`check =
# checksum`) are turned off in the measured copy of the example (they would
# be counted as the NF's cost, and only on the packets it does not drop);
# CHECKS=1 keeps them. Only the data thread's
# `Runtime::run` is counted (--toggle-collect), so the main thread's 100 ms
# wake-ups and the final summary do not add noise. With several sources
# (arp, dnsfilter: generator + pcap_in into a merge; nat: lan + wan) the
# figure is per packet of all sources, and the NF column includes the merge.
#
# Graphs with a pcap_in source (arp, dnsfilter) use N_PCAP packets (N/10 by
# default): pcap_in reopens its file on every pass over a small capture,
# which is slow under valgrind (the cost is in both graphs and cancels).
#
# Usage: scripts/bench-nfs-callgrind.sh                    (N=50000, all NFs)
#        N=20000 scripts/bench-nfs-callgrind.sh nat firewall
# Needs valgrind (apt-get install valgrind). Takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-50000}
ALL="firewall nat maglev monitor mirror policer router vxlan vlan gre dnsfilter arp"
NFS=${*:-$ALL}

if ! command -v valgrind >/dev/null; then
    echo "bench-nfs-callgrind: valgrind not found (apt-get install valgrind)" >&2
    exit 1
fi

cargo build --release -p netfn --quiet
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/release/netfn"
work=$(mktemp -d)
# Empty graphs go beside the examples: relative paths (pcap_in files)
# resolve against the graph file's directory.
empties=()
cleanup() {
    rm -rf "$work"
    if [ ${#empties[@]} -gt 0 ]; then rm -f "${empties[@]}"; fi
}
trap cleanup EXIT

# Instructions executed by the data path of one run: ir FILE PACKETS
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
        --toggle-collect='netfn_core::runtime::Runtime::run' \
        "$bin" run "$1" --packets "$2" -q >/dev/null 2>"$work/log" || {
        echo "bench-nfs-callgrind: $1 failed:" >&2
        cat "$work/log" >&2
        exit 1
    }
    local n
    n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/log")
    if [ -z "$n" ]; then
        echo "bench-nfs-callgrind: no instruction count for $1:" >&2
        cat "$work/log" >&2
        exit 1
    fi
    echo "$n"
}

# Ir/packet of a graph file, over N packets: per_packet FILE N
per_packet() {
    local a b
    a=$(ir "$1" "$2")
    b=$(ir "$1" "$((2 * $2))")
    awk -v a="$a" -v b="$b" -v n="$2" 'BEGIN { printf "%.1f", (b - a) / n }'
}

# The empty graph of an example: its `let`s and source declarations, each
# source into a sink of its own.
empty_graph() {
    perl -0777 -ne '
        s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{^\s*#[^\n]*}{}mg;
        my @keep; my $i = 0;
        for my $st (split /;/) {
            if ($st =~ /^\s*let\b/) { push @keep, "$st;" }
            elsif ($st =~ /^\s*(\w+)\s*::\s*(generator|pcap_in)\s*\(/) {
                push @keep, "$st;", "$1 -> empty_sink$i :: sink();";
                $i++;
            }
        }
        print join("\n", map { s/^\s+//r } @keep), "\n";
    ' "$1"
}

N_PCAP=${N_PCAP:-$((N / 10))}
echo "callgrind: instructions per packet of the data path, N=$N, N_PCAP=$N_PCAP ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
printf '%-10s %12s %12s %12s\n' NF graph empty "NF (diff)"
declare -A empty_cost
for nf in $NFS; do
    file="examples/$nf.nf"
    if [ ! -f "$file" ]; then
        echo "bench-nfs-callgrind: no $file" >&2
        exit 1
    fi
    empty="examples/.empty-$nf.nf"
    measured="examples/.measured-$nf.nf"
    empties+=("$empty" "$measured")
    if [ "${CHECKS:-0}" = 1 ]; then
        cp "$file" "$measured"
    else
        perl -pe 's/\bsink\s*\(\s*check\s*=\s*\w+\s*\)/sink()/g' "$file" >"$measured"
    fi
    empty_graph "$file" >"$empty"
    n=$N
    if grep -q 'pcap_in' "$empty"; then n=$N_PCAP; fi
    # Examples with the same sources share one empty-graph measurement.
    key=$(md5sum <"$empty" | cut -d' ' -f1)
    if [ -z "${empty_cost[$key]:-}" ]; then
        empty_cost[$key]=$(per_packet "$empty" "$n")
    fi
    e=${empty_cost[$key]}
    g=$(per_packet "$measured" "$n")
    d=$(awk -v g="$g" -v e="$e" 'BEGIN { printf "%.1f", g - e }')
    printf '%-10s %12s %12s %12s\n' "$nf" "$g" "$e" "$d"
done
