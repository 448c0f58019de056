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
# Routed mode (`routed`) puts the hosts on two subnets, each with a default
# route to a gateway address that nobody in the namespaces has: a netfn
# graph in ${P}mb must answer ARP / neighbor solicitations for the gateways
# (the `arp` NF) and route (`router`, maybe `nat`). mb stays as above.
# Name lookups stay inside: the namespaces get their own hosts file (names
# h1, h2, gw1, gw2) and a resolv.conf without a reachable server.
#
#   ${P}h1  eth0 ──veth── a  ${P}mb  b ──veth── eth0  ${P}h2
#   10.201.1.1/24                               10.201.2.1/24
#     via 10.201.1.254                            via 10.201.2.254
#   fd00:201:1::1/64                            fd00:201:2::1/64
#     via fd00:201:1::fe                          via fd00:201:2::fe
#
# Usage:
#   scripts/netns.sh up PREFIX [tap|routed]
#                                      create (tap: also TAP interfaces ta, tb
#                                      in mb, bridged to a and b, for a graph
#                                      tap(name=ta) <-> tap(name=tb);
#                                      routed: the two-subnet addressing)
#   scripts/netns.sh down PREFIX       delete everything PREFIX made
#   scripts/netns.sh run PREFIX [tap|routed] -- CMD...
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
    rm -rf "/etc/netns/$ns"
  done
  rmdir /etc/netns 2>/dev/null || true
}

# Routed mode: the namespaces get their own /etc/hosts and resolv.conf
# (`ip netns exec` mounts /etc/netns/NS/* over /etc/*), so name lookups
# stay inside the topology. Without them a reverse lookup of a host's
# address (python3 -m http.server does one at start) goes to the machine's
# DNS server by the default route and waits seconds for a timeout; with
# them it is answered from the file, and anything else fails at once
# (nothing listens on 127.0.0.1:53).
host_files() {
  for ns in "$H1" "$MB" "$H2"; do
    mkdir -p "/etc/netns/$ns"
    printf '%s\n' "127.0.0.1 localhost" "::1 localhost" \
      "10.201.1.1 h1" "10.201.2.1 h2" "10.201.1.254 gw1" "10.201.2.254 gw2" \
      "fd00:201:1::1 h1" "fd00:201:2::1 h2" >"/etc/netns/$ns/hosts"
    echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
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
    if [ "$mode" = routed ]; then
      ip -n "$ns" addr add "10.201.$i.1/24" dev eth0
      ip -n "$ns" addr add "fd00:201:$i::1/64" dev eth0 nodad
    else
      ip -n "$ns" addr add "10.200.0.$i/24" dev eth0
      ip -n "$ns" addr add "fd00:200::$i/64" dev eth0 nodad
    fi
    if command -v ethtool >/dev/null 2>&1; then
      ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null 2>&1 || true
    fi
    ip -n "$ns" link set dev eth0 up
    if [ "$mode" = routed ]; then
      ip -n "$ns" route add default via "10.201.$i.254" dev eth0
      ip -n "$ns" -6 route add default via "fd00:201:$i::fe" dev eth0
    fi
    i=$((i + 1))
  done
  if [ "$mode" = routed ]; then
    host_files
  fi
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
  up)
    case "${1:-}" in
      "" | tap | routed) up "${1:-}" ;;
      *) usage ;;
    esac
    ;;
  down) down ;;
  run)
    mode=
    case "${1:-}" in
      tap | routed) mode=$1; shift ;;
    esac
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || usage
    trap 'down' EXIT INT TERM
    up "$mode"
    "$@"
    ;;
  *) usage ;;
esac
