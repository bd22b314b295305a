#!/usr/bin/env bash
# The dashboard in headless Chromium against the real server: a fresh database filled by a
# simulated ingestion, `crypto-dashboard serve`, then two runs of `node --test`:
#   dashboard              the unit tests and every browser test that needs a working API
#   dashboard-error-state  the error-state test, against a second server whose database is
#                          unreachable
# Each run is read back from node's TAP summary: a run fails when any test failed, was
# cancelled, skipped or left todo, or when it ran none. scripts/test.sh also checks each run's
# count against the number it expects. Node runs with the en-US locale the format tests assume.
# Needs DATABASE_URL (an admin URL; scripts/with-test-services.sh provides it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_background EXIT

ensure_chromium
build_dashboard
cargo build --quiet --bin crypto-dashboard
bin="$(target_dir)/debug/crypto-dashboard"

DATABASE_URL=$(fresh_database dashboard_e2e)
export DATABASE_URL
simulated_ingestion "$bin"

port=$(free_port)
background "$bin" serve --port "$port" 2>"$LOCAL_DIR/dashboard-serve.log"
wait_for_port "$port" 30 || die "serve did not start: see .local/dashboard-serve.log"

serve_without_database "$bin"
down_port=$DOWN_PORT

# node_tests SUITE BASE_URL FILES...: one `node --test` run (spec output on the terminal, TAP
# into .local/SUITE.tap), recorded with record_suite; fails unless every test ran and passed.
node_tests() {
  local suite=$1 base_url=$2 tap="$LOCAL_DIR/$1.tap" rc=0 tests pass fail cancelled skipped todo
  shift 2
  rm -f "$tap"
  (cd dashboard && LC_ALL=en_US.UTF-8 LANG=en_US.UTF-8 DASHBOARD_BASE_URL="$base_url" \
    node --test --test-timeout=120000 --test-concurrency=1 \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" "$@") || rc=$?
  # The last summary block of the TAP output: "# tests N", "# pass N", ... (0 when missing).
  read -r tests pass fail cancelled skipped todo < <(awk '
    /^# (tests|pass|fail|cancelled|skipped|todo) [0-9]+$/ { count[$2] = $3 }
    END { printf "%d %d %d %d %d %d\n", count["tests"], count["pass"], count["fail"], count["cancelled"], count["skipped"], count["todo"] }
  ' "$tap" 2>/dev/null || echo "0 0 0 0 0 0")
  record_suite "$suite" "$pass" $((fail + cancelled)) $((skipped + todo))
  local problems=()
  [ "$tests" -gt 0 ] || problems+=("no test ran")
  [ "$fail" -eq 0 ] || problems+=("$fail failed")
  [ "$cancelled" -eq 0 ] || problems+=("$cancelled cancelled")
  [ "$skipped" -eq 0 ] || problems+=("$skipped skipped (nothing may be skipped)")
  [ "$todo" -eq 0 ] || problems+=("$todo todo")
  [ "$pass" -eq "$tests" ] || problems+=("$pass of $tests passed")
  [ "$rc" -eq 0 ] || problems+=("node --test exited with $rc")
  if [ ${#problems[@]} -gt 0 ]; then
    local joined
    joined=$(printf '%s, ' "${problems[@]}")
    die "$suite: ${joined%, } (TAP output: .local/$suite.tap)"
  fi
}

say "browser tests against http://127.0.0.1:$port"
node_tests dashboard "http://127.0.0.1:$port" tests/format.test.mjs tests/e2e.mjs
say "error state against a server whose database is down (http://127.0.0.1:$down_port)"
node_tests dashboard-error-state "http://127.0.0.1:$down_port" tests/e2e-error-state.mjs
