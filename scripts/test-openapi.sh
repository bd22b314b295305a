#!/usr/bin/env bash
# Keeps openapi.yaml true against the real server: a fresh database filled by a simulated full
# ingestion, `crypto-dashboard serve` (with a cron secret) plus a second server whose database
# is unreachable, then scripts/openapi_conformance.py: every route with success and error
# cases, each answer validated against openapi.yaml (status documented, headers, body schema),
# every documented example sent as a request that must succeed, and a schemathesis run driven
# by openapi.yaml: every check (--checks all) in every phase (examples, coverage, fuzzing,
# stateful), with a fixed budget and seed. The prices route's text/csv bodies are validated as
# strings against their schema, here and in schemathesis (a deserializer hook). A failing check, a skipped phase or a timeout fails
# the script. About a minute on 2 cores once the binary is built.
# Needs DATABASE_URL (an admin URL; `scripts/test.sh openapi` provides it).
#
#   OPENAPI_FUZZ_EXAMPLES=150  examples per operation for schemathesis' fuzzing phase
#   OPENAPI_FUZZ_SEED=1        schemathesis seed (fixed, so a run is reproducible)
#   OPENAPI_STRICT=1           count known server bugs as failures
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_background EXIT
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (run: scripts/test.sh openapi)"

# The cases expect the original's coins and the default currencies, and the database-down
# server must have no secret.
unset CRON_SECRET CRON_SECRET_ARN TRACKED_CURRENCIES
export TRACKED_COINS=$ORIGINAL_COINS
export PIP_DEFAULT_TIMEOUT=60 PGCONNECT_TIMEOUT=10
ensure_tool schemathesis 'schemathesis>=4.32,<5'
ensure_tool jsonschema 'jsonschema>=4.18,<5'
ensure_tool openapi-spec-validator 'openapi-spec-validator>=0.7,<1'

timeout 900 cargo build --quiet --bin crypto-dashboard
bin="$(target_dir)/debug/crypto-dashboard"
# The server refuses cron secrets under 32 bytes (fail closed), so this one is longer.
secret=openapi-test-secret-0123456789abcdefghij

DATABASE_URL=$(fresh_database openapi_e2e)
export DATABASE_URL
simulated_ingestion "$bin"

port=$(free_port)
CRON_SECRET=$secret background "$bin" serve --port "$port" 2>"$LOCAL_DIR/openapi-serve.log"
wait_for_port "$port" 30 || die "serve did not start: see .local/openapi-serve.log"

serve_without_database "$bin"
down_port=$DOWN_PORT

say "openapi conformance against http://127.0.0.1:$port (database down: :$down_port)"
log="$LOCAL_DIR/openapi-conformance.log"
rc=0
timeout 240 "$VENV/bin/python" -u scripts/openapi_conformance.py \
  --spec openapi.yaml \
  --base-url "http://127.0.0.1:$port" \
  --down-url "http://127.0.0.1:$down_port" \
  --cron-token "$secret" \
  --schemathesis "$VENV/bin/schemathesis" \
  --max-examples "${OPENAPI_FUZZ_EXAMPLES:-150}" \
  --seed "${OPENAPI_FUZZ_SEED:-1}" \
  --fuzz-timeout 180 \
  --log-dir "$LOCAL_DIR" | tee "$log" || rc=$?

# Its last line counts the checks: "openapi conformance: N passed, M failed".
counts=$(sed -n 's/^openapi conformance: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
[ -n "$counts" ] || die "the conformance run ended without its count (exit code $rc; see .local/openapi-conformance.log)"
read -r passed failed <<<"$counts"
record_suite openapi "$passed" "$failed"
[ "$rc" -eq 0 ] || die "openapi conformance failed (exit code $rc; see .local/openapi-conformance.log)"
[ "$passed" -gt 0 ] || die "openapi conformance ran no check"
