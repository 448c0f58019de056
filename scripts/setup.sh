#!/usr/bin/env bash
# Installs the system packages netfn's tests use. Idempotent; needs root
# (or sudo) only when something is missing. CI runs it on a fresh machine.
set -euo pipefail

# command -> Debian package that provides it
declare -A want=(
  [kill]=procps
  [pkill]=procps
  # real-traffic tests (crates/netfn/tests/netns.rs, realclient.rs,
  # pipes.rs) and scripts/netns.sh
  [ip]=iproute2
  [ping]=iputils-ping
  [tcpdump]=tcpdump
  [iperf3]=iperf3
  [python3]=python3
  [curl]=curl
  [ethtool]=ethtool
  # netfn bench io (crates/netfn/src/bench_io.rs): the peers it measures
  [nft]=nftables
  [taskset]=util-linux
  [ovs-vswitchd]=openvswitch-switch
  # scripts/spin.sh: the Promela model of the ring protocol
  [spin]=spin
)

missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "setup: installing $pkgs"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $pkgs
