#!/usr/bin/env bash
# `make test`: formatting and lints first (fast failures), then every test with a throwaway
# PostgreSQL and moto_server that are stopped afterwards, whatever happens.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

start=$(date +%s)
say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
scripts/with-test-services.sh cargo test --workspace --locked --no-fail-fast

say "make test passed in $(( $(date +%s) - start ))s"
