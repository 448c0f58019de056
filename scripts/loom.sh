#!/usr/bin/env bash
# Model-checks netfn-ring's Master/Worker protocol (primary + aux rings)
# with loom: every interleaving of the real code up to LOOM_MAX_PREEMPTIONS
# preemptions (default 2) for rings of 2-8 slots and thresholds 1-8 (see
# crates/netfn-ring/tests/loom.rs for the properties). About 2 minutes on
# 2 cores (compile included). Extra arguments go to the test binary, e.g.
#   scripts/loom.sh ring_of_3 --nocapture
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2}
# A separate target dir: `--cfg loom` rebuilds every dependency.
export CARGO_TARGET_DIR=${LOOM_TARGET_DIR:-target/loom}
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" \
    cargo test -p netfn-ring --release --locked --test loom -- "$@"
