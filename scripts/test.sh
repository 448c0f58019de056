#!/usr/bin/env bash
# The test suite: installs what the tests need, then runs every test of the
# workspace (unit, property, golden, compile-fail, CLI and reload tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked "$@"
