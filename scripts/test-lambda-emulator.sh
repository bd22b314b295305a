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
cargo build --quiet --bin crypto-dashboard --bin health --bin coins-list --bin prices --bin market --bin ingest \
  --bin cron-trigger --bin migrate

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

# TRACE through the real runtime path: at TRACE lambda_runtime logs every raw event (the
# bearer token, CloudFormation's pre-signed response URL). The functions cap those targets at
# INFO, so neither may appear anywhere in the output of a second emulator run at TRACE.
token=$(python3 -c 'import json; print(json.load(open("events/cron-trigger.json"))["headers"]["authorization"].split()[1])')
signature=$(python3 -c 'import json,urllib.parse as u; q=u.parse_qs(u.urlsplit(json.load(open("events/migrate-create.json"))["ResponseURL"]).query); print(q["X-Amz-Signature"][0])')
response_port=$(free_port) # a stand-in for CloudFormation's response bucket: 200 to every PUT
background python3 -c '
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()' "$response_port"
wait_for_port "$response_port" 10 || die "the response double did not start"
python3 - "$response_port" events/migrate-create.json >"$LOCAL_DIR/migrate-local.json" <<'PY'
import json, sys, urllib.parse as u
e = json.load(open(sys.argv[2]))
parts = u.urlsplit(e["ResponseURL"])
e["ResponseURL"] = u.urlunsplit(("http", "127.0.0.1:" + sys.argv[1], parts.path, parts.query, ""))
json.dump(e, sys.stdout)
PY
trace_port=$(free_port)
AWS_LAMBDA_LOG_LEVEL=TRACE CRON_SECRET="$token" INGEST_FUNCTION_NAME=ingest \
  AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$trace_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator \
  background cargo lambda watch --invoke-port "$trace_port" --timeout 300 >"$LOCAL_DIR/lambda-watch-trace.log" 2>&1
wait_for_port "$trace_port" 60 || die "cargo lambda watch (TRACE) did not start: see .local/lambda-watch-trace.log"
timeout 300 cargo lambda invoke cron-trigger --invoke-port "$trace_port" --data-file events/cron-trigger.json 2>>"$LOCAL_DIR/lambda-watch-trace.log" |
  check "cron-trigger cron-trigger.json at TRACE" 'b=json.loads(r["body"]); assert r["statusCode"] == 202 and b["data"]["runId"], r'
timeout 300 cargo lambda invoke migrate --invoke-port "$trace_port" --data-file "$LOCAL_DIR/migrate-local.json" 2>>"$LOCAL_DIR/lambda-watch-trace.log" |
  check "migrate migrate-create.json at TRACE" 'assert r["Status"] == "SUCCESS", r'
sleep 2 # the accepted run's async invoke of ingest logs into the same file
grep -q '"level":"TRACE"\|TRACE' "$LOCAL_DIR/lambda-watch-trace.log" ||
  die "the TRACE run logged nothing at TRACE: the level did not take effect (see .local/lambda-watch-trace.log)"
if grep -qF "$token" "$LOCAL_DIR/lambda-watch-trace.log"; then
  die "the cron bearer token appears in the TRACE logs (.local/lambda-watch-trace.log)"
fi
if grep -qF "$signature" "$LOCAL_DIR/lambda-watch-trace.log"; then
  die "the response URL's signature appears in the TRACE logs (.local/lambda-watch-trace.log)"
fi
echo "ok - no token or signature in TRACE logs"
echo "lambda emulator: 9 passed, 0 failed"
