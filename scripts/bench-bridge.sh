#!/usr/bin/env bash
# Packets per second through a netfn afpacket bridge in the namespace
# topology (scripts/netns.sh), beside the load generator alone, in one run.
# Needs root and a release build (cargo build --release).
#
#   scripts/bench-bridge.sh [SECONDS] [GRAPH]
#
# Load: a netfn generator (64-byte frames, 64 flows, flat out) in h1 sending
# with afpacket(dev=eth0), pinned to CPU 0. The bridge graph (default: a ->
# b and back, no NF) runs in mb pinned to CPU 1. Counts are the interfaces'
# rx_packets over the window: "in" on mb's a, "out" on h2's eth0 (h2's
# kernel drops the frames cheaply: they are addressed to a MAC it does not
# own). Then iperf3 UDP (64-byte payloads, -b 0) from h1 to h2 through the
# same bridge. Veth receive work runs on the sending core, so read every
# figure beside the generator-alone row.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
BIN=target/release/netfn
P=nfbench$$
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
trap 'scripts/netns.sh down $P' EXIT INT TERM
scripts/netns.sh up "$P"
dir=$(mktemp -d)
GRAPH=${2:-$dir/bridge.nf}
cat > "$dir/bridge.nf" <<'EOF'
a :: afpacket(dev = a);
b :: afpacket(dev = b);
a -> b;
b -> a;
EOF
cat > "$dir/gen.nf" <<'EOF'
gen :: generator(flows = 64, size = [64B]);
gen -> eth0 :: afpacket(dev = eth0);
EOF

count() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

# One window: prints "in_pps out_pps".
window() {
  ip netns exec "${P}h1" taskset -c 0 "$BIN" run "$dir/gen.nf" -q --duration $((SECS + 2))s >/dev/null 2>&1 &
  local gen=$!
  sleep 1
  local i0 o0 i1 o1
  i0=$(count "${P}mb" a); o0=$(count "${P}h2" eth0)
  sleep "$SECS"
  i1=$(count "${P}mb" a); o1=$(count "${P}h2" eth0)
  wait "$gen" || true
  echo "$(( (i1 - i0) / SECS )) $(( (o1 - o0) / SECS ))"
}

read -r gin _ < <(window)
ip netns exec "${P}mb" taskset -c 1 "$BIN" run "$GRAPH" -q --json > "$dir/bridge.json" 2>/dev/null &
br=$!
sleep 1
read -r bin bout < <(window)

ip netns exec "${P}h2" iperf3 -s -1 >/dev/null 2>&1 &
srv=$!
sleep 0.5
udp=$(ip netns exec "${P}h1" iperf3 -c 10.200.0.2 -u -b 0 -l 64 -t "$SECS" -J 2>/dev/null |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["end"]["sum"]; print(round((s["packets"]-s["lost_packets"])/s["seconds"]), round(s["lost_percent"],2))')
wait "$srv" 2>/dev/null || true
kill -INT "$br" 2>/dev/null || true
wait "$br" 2>/dev/null || true
read -r upps uloss <<<"$udp"

loss=$(python3 -c "print(round(100*(1-$bout/max(1,$bin)),2))")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every row)"
printf '%-44s %12s %12s %8s\n' "load / path (64 B frames, ${SECS}s windows)" "in pps" "out pps" "loss %"
printf '%-44s %12s %12s %8s\n' "netfn generator alone (h1 -> mb:a)" "$gin" "-" "-"
printf '%-44s %12s %12s %8s\n' "generator -> netfn $(basename "$GRAPH" .nf) -> h2" "$bin" "$bout" "$loss"
printf '%-44s %12s %12s %8s\n' "iperf3 UDP -l 64 -b 0 through the bridge" "-" "$upps" "$uloss"
rm -rf "$dir"
