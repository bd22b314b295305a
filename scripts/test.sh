#!/usr/bin/env bash
# `make test`: formatting, lints and the deploy checks first (fast failures), then every test
# with a throwaway PostgreSQL and moto_server that are stopped afterwards, whatever happens:
# the Rust tests, the functions under a Lambda runtime emulator, the OpenAPI conformance and
# the dashboard in headless Chromium.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

start=$(date +%s)
say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "no import cycle between files (scripts/check_imports.py)"
python3 scripts/check_imports.py

say "deploy checks (cfn-lint, sam validate, template policy)"
scripts/check-deploy.sh

scripts/with-test-services.sh bash -c '
  set -euo pipefail
  source scripts/lib.sh
  say "cargo test"
  cargo test --workspace --locked --no-fail-fast
  say "functions under the Lambda runtime emulator"
  scripts/test-lambda-emulator.sh
  if [ -x scripts/test-openapi.sh ]; then
    say "OpenAPI conformance"
    scripts/test-openapi.sh
  fi
  say "dashboard in headless Chromium"
  scripts/test-dashboard.sh
'

say "make test passed in $(( $(date +%s) - start ))s"
