#!/usr/bin/env bash
# Model-checks the Master/Worker ring protocol with spin: the Promela model
# crates/netfn-ring/spin/ring.pml (what it models and checks is written at
# its top). For each configuration: a safety run (assertions: index order,
# bounded pending, no token lost/duplicated/reordered, aux runs in order;
# no invalid end state = no deadlock) and a liveness run (`<> all_back`
# under weak fairness: no lost wake-up). Then the model of the code before
# the wake-up fix (-DOLD_WAKE) must FAIL the liveness run, which shows the
# property can fail. Needs spin and gcc (scripts/setup.sh installs spin).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model=$PWD/crates/netfn-ring/spin/ring.pml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# N primary slots, A aux slots, TOKENS, WAKE threshold, PUBLISH every,
# TAKE per recv, PER_ROUND pushes, STARVE rounds.
configs=(
  "N=2 A=2 TOKENS=5 WAKE=0 PUBLISH=1 TAKE=1 PER_ROUND=1 STARVE=1"
  "N=3 A=2 TOKENS=6 WAKE=1 PUBLISH=1 TAKE=2 PER_ROUND=2 STARVE=2"
  "N=4 A=3 TOKENS=8 WAKE=2 PUBLISH=2 TAKE=2 PER_ROUND=3 STARVE=2"
  "N=4 A=2 TOKENS=8 WAKE=4 PUBLISH=3 TAKE=3 PER_ROUND=1 STARVE=3"
  "N=5 A=3 TOKENS=9 WAKE=8 PUBLISH=1 TAKE=4 PER_ROUND=4 STARVE=1"
)

check() { # name, expect (ok|fail), pan flags, -D flags...
  local name=$1 expect=$2 flags=$3
  shift 3
  spin -a "$@" "$model" >spin.txt 2>&1 || { echo "spin: $name: the model does not compile:"; cat spin.txt; exit 1; }
  gcc -O2 -w -o pan pan.c
  # shellcheck disable=SC2086
  ./pan -m2000000 $flags >out.txt 2>&1 || true
  local errors
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' out.txt)
  local states
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' out.txt)
  if [ -z "$errors" ] || grep -q "error: max search depth too small" out.txt; then
    echo "spin: $name: the search did not complete:"; cat out.txt; exit 1
  fi
  if [ "$expect" = ok ] && [ "$errors" != 0 ]; then
    echo "spin: $name: FAILED"; cat out.txt
    spin -t -p -g "$@" "$model" | tail -60
    exit 1
  fi
  if [ "$expect" = fail ] && [ "$errors" = 0 ]; then
    echo "spin: $name: expected a violation, found none"; cat out.txt; exit 1
  fi
  printf 'spin: %-70s %-4s (%s states)\n' "$name" "$expect" "$states"
  rm -f pan* ./*.trail
}

for c in "${configs[@]}"; do
  defs=()
  for kv in $c; do defs+=("-D$kv"); done
  check "safety   $c" ok "" "${defs[@]}"
  check "liveness $c" ok "-a -f" -DLIVENESS "${defs[@]}"
done
check "liveness of the old wake-up (must fail)" fail "-a -f" -DLIVENESS -DOLD_WAKE
echo "spin: all configurations checked"
