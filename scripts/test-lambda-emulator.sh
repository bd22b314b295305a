#!/usr/bin/env bash
# Builds the functions and invokes them through a real Lambda runtime emulator
# (`cargo lambda watch` + `cargo lambda invoke --data-file events/...`), checking responses.
# Needs DATABASE_URL (an admin URL; scripts/with-test-services.sh provides it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_background EXIT

ensure_tool cargo-lambda cargo-lambda
export PATH="$VENV/bin:$PATH" # cargo-lambda finds its zig here
cargo build --quiet --bin crypto-dashboard --bin health --bin coins-list --bin prices --bin market --bin ingest

DATABASE_URL=$(fresh_database lambda_emulator)
export DATABASE_URL TRACKED_COINS=bitcoin,ethereum TRACKED_CURRENCIES=usd,eur
sim_port=$(free_port)
background target/debug/crypto-dashboard simulate-coingecko --port "$sim_port" 2>/dev/null
wait_for_port "$sim_port" 30 || die "simulator did not start"
export COINGECKO_BASE_URL="http://127.0.0.1:$sim_port/api/v3" COINGECKO_RATE_LIMIT_PER_MIN=6000
target/debug/crypto-dashboard migrate 2>/dev/null

port=$(free_port)
background cargo lambda watch --invoke-port "$port" --timeout 300 >"$LOCAL_DIR/lambda-watch.log" 2>&1
wait_for_port "$port" 60 || die "cargo lambda watch did not start: see .local/lambda-watch.log"

invoke() { # FUNCTION EVENT_FILE -> response JSON on stdout
  timeout 300 cargo lambda invoke "$1" --invoke-port "$port" --data-file "events/$2" 2>>"$LOCAL_DIR/lambda-watch.log"
}
check() { # NAME PYTHON_ASSERTION < response
  python3 -c "import json,sys; r=json.load(sys.stdin); $2" || die "$1: unexpected response (see .local/lambda-watch.log)"
  echo "ok - $1"
}

invoke ingest ingest-full.json |
  check "ingest ingest-full.json" 'assert r["status"] == "succeeded" and r["pairs"]["ok"] == 4 and r["simulated"], r'
invoke ingest ingest-scheduled.json |
  check "ingest ingest-scheduled.json" 'assert r["trigger"] == "schedule" and r["status"] == "succeeded", r'
invoke health health.json |
  check "health health.json" 'b=json.loads(r["body"]); assert r["statusCode"] == 200 and b["data"]["database"] == "ok", r'
invoke coins-list coins-list.json |
  check "coins-list coins-list.json" 'b=json.loads(r["body"]); assert [c["id"] for c in b["data"]] == ["bitcoin", "ethereum"], b'
invoke market market.json |
  check "market market.json" 'b=json.loads(r["body"]); assert r["headers"]["cache-control"] == "public, max-age=300" and all(c["price"] > 0 for c in b["data"]), b'
invoke prices prices.json |
  check "prices prices.json" 'b=json.loads(r["body"]); assert r["statusCode"] == 200 and b["data"]["coinId"] == "ethereum", b'
echo "lambda emulator: 6 passed, 0 failed"
