#!/usr/bin/env bash
# The test topology: two hosts and a middlebox in network namespaces, joined
# by veth pairs. Used by the real-traffic tests (crates/netfn/tests/) and
# benchmarks. Every address lives inside these namespaces only.
#
#   ${P}h1  eth0 ──veth── a  ${P}mb  b ──veth── eth0  ${P}h2
#   10.200.0.1/24                               10.200.0.2/24
#   fd00:200::1/64                              fd00:200::2/64
#   02:00:0a:c8:00:01                           02:00:0a:c8:00:02
#
# h1 and h2 share one subnet: the middlebox is a bump in the wire (an L2
# bridge), and nothing crosses it unless a netfn graph in ${P}mb forwards
# between `a` and `b` (afpacket(dev=a) <-> afpacket(dev=b)). mb's kernel
# keeps out of the way: no addresses, IPv6 off, no forwarding.
#
# Usage:
#   scripts/netns.sh up PREFIX [tap]   create (tap: also TAP interfaces ta, tb
#                                      in mb, bridged to a and b, for a graph
#                                      tap(name=ta) <-> tap(name=tb))
#   scripts/netns.sh down PREFIX       delete everything PREFIX made
#   scripts/netns.sh run PREFIX [tap] -- CMD...
#                                      up, run CMD, always down (trap)
# PREFIX keeps parallel runs apart (tests use one per process and test);
# namespaces are ${PREFIX}h1, ${PREFIX}mb, ${PREFIX}h2.
#
# Offloads: the hosts' veths have checksum offload (and with it TSO/GSO)
# turned off when ethtool is there, so frames a userspace middlebox forwards
# carry real checksums and are never 64 KiB super-frames.
set -euo pipefail

usage() {
  sed -n '/^# Usage:/,/^# PREFIX/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
P=$2
shift 2
case "$P" in
  *[!A-Za-z0-9_-]* | "") echo "netns.sh: PREFIX must be letters, digits, _ or -" >&2; exit 2 ;;
esac
H1=${P}h1 MB=${P}mb H2=${P}h2

down() {
  for ns in "$H1" "$MB" "$H2"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

up() {
  local mode=${1:-}
  down
  # A failure half-way leaves nothing behind.
  trap 'down' ERR
  for ns in "$H1" "$MB" "$H2"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip link add eth0 netns "$H1" address 02:00:0a:c8:00:01 type veth \
    peer name a netns "$MB" address 02:00:0a:c8:01:01
  ip link add eth0 netns "$H2" address 02:00:0a:c8:00:02 type veth \
    peer name b netns "$MB" address 02:00:0a:c8:01:02
  ip netns exec "$MB" sysctl -qw net.ipv4.ip_forward=0
  for dev in a b; do
    ip netns exec "$MB" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    ip -n "$MB" link set dev "$dev" up
  done
  local i=1
  for ns in "$H1" "$H2"; do
    ip -n "$ns" addr add "10.200.0.$i/24" dev eth0
    ip -n "$ns" addr add "fd00:200::$i/64" dev eth0 nodad
    if command -v ethtool >/dev/null 2>&1; then
      ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null 2>&1 || true
    fi
    ip -n "$ns" link set dev eth0 up
    i=$((i + 1))
  done
  if [ "$mode" = tap ]; then
    for side in a b; do
      ip -n "$MB" tuntap add mode tap name "t$side"
      ip netns exec "$MB" sysctl -qw "net.ipv6.conf.t$side.disable_ipv6=1"
      ip -n "$MB" link add "br$side" type bridge
      ip netns exec "$MB" sysctl -qw "net.ipv6.conf.br$side.disable_ipv6=1"
      ip -n "$MB" link set dev "$side" master "br$side"
      ip -n "$MB" link set dev "t$side" master "br$side"
      ip -n "$MB" link set dev "t$side" up
      ip -n "$MB" link set dev "br$side" up
    done
  fi
  trap - ERR
}

case "$cmd" in
  up) up "${1:-}" ;;
  down) down ;;
  run)
    mode=
    if [ "${1:-}" = tap ]; then mode=tap; shift; fi
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || usage
    trap 'down' EXIT INT TERM
    up "$mode"
    "$@"
    ;;
  *) usage ;;
esac
