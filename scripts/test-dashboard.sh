#!/usr/bin/env bash
# The dashboard in headless Chromium against the real server: a fresh database filled by a
# simulated ingestion, `crypto-dashboard serve`, then the browser tests. The error-state test
# runs against a second server whose database is unreachable.
# Needs DATABASE_URL (an admin URL; scripts/with-test-services.sh provides it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_background EXIT

ensure_chromium
build_dashboard
cargo build --quiet --bin crypto-dashboard
bin=target/debug/crypto-dashboard

DATABASE_URL=$(fresh_database dashboard_e2e)
export DATABASE_URL
simulated_ingestion "$bin"

port=$(free_port)
background "$bin" serve --port "$port" 2>"$LOCAL_DIR/dashboard-serve.log"
wait_for_port "$port" 30 || die "serve did not start: see .local/dashboard-serve.log"

serve_without_database "$bin"
down_port=$DOWN_PORT

cd dashboard
say "browser tests against http://127.0.0.1:$port"
DASHBOARD_BASE_URL="http://127.0.0.1:$port" DASHBOARD_SKIP_ERROR_TEST=1 \
  node --test --test-timeout=120000 --test-concurrency=1 tests/format.test.mjs tests/e2e.mjs
say "error state against a server whose database is down"
DASHBOARD_BASE_URL="http://127.0.0.1:$down_port" \
  node --test --test-timeout=120000 --test-name-pattern="failing API" tests/e2e.mjs
