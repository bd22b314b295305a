#!/usr/bin/env bash
# Every function under a real Lambda runtime emulator: `cargo lambda watch`, then
# `cargo lambda invoke FUNCTION --data-file events/...` with the payloads in events/, and each
# answer's content checked (not only its status). In order, on an empty database:
#   migrate         creates the schema (and answers CloudFormation's response URL), then again: nothing
#   ingest          full, scheduled and incremental runs from the CoinGecko simulator; the
#                   scheduled event is stored as trigger schedule
#   the HTTP reads  health (degraded: no live refresh yet), coins-list, coin-detail, currencies, market, prices (each payload as
#                   it is, and a copy moved to the last days; the CSV payload, and a copy that asks
#                   by Accept: text/csv alone, checked against the JSON answer), ingestion-runs
#                   (the runs just made)
#   live-quotes     EventBridge's scheduled event (stored as trigger schedule, mode latest) and a
#                   manual invoke (trigger manual), then health (ok, both parts) and the market
#                   again: quoted prices, market cap and volume
#   cron-trigger    202 with a runId; the run it starts (an async invoke of ingest through the
#                   emulator's Invoke API) then appears in ingestion-runs and succeeds
# migrate and cron-trigger (with the ingest run it starts) run in a second emulator at TRACE,
# whose output must hold neither the cron bearer token nor the response URL's signature.
# Every function in functions/ must be invoked, and every case below (each `run`) must run.
# Ends with its count ("lambda-emulator: N passed, M failed"); any failed check fails the script.
# Run by scripts/test.sh (`scripts/test.sh lambda-emulator`), which provides DATABASE_URL.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_background EXIT

FUNCTIONS=$(cd functions && ls -d -- */ | tr -d /)
ensure_tool cargo-lambda cargo-lambda
export PATH="$VENV/bin:$PATH" # cargo-lambda finds its zig here
cargo build --quiet --bin crypto-dashboard $(printf -- '--bin %s ' $FUNCTIONS)

out="$LOCAL_DIR/lambda-emulator" # every answer and the emulators' logs
payloads="$out/payloads"         # payloads derived from events/
rm -rf "$out"
mkdir -p "$payloads"

DATABASE_URL=$(fresh_database lambda_emulator) # empty: the migrate function creates the schema
export DATABASE_URL TRACKED_COINS=bitcoin,ethereum TRACKED_CURRENCIES=usd,eur
# cargo lambda watch sets AWS_LAMBDA_FUNCTION_NAME as Lambda does, and in Lambda an HTTP function
# without an origin-verify secret refuses to start (it would serve direct execute-api calls).
# No CloudFront sends X-Origin-Verify here, so say so explicitly: never set this in AWS.
export ORIGIN_VERIFY=off
start_simulator "$(target_dir)/debug/crypto-dashboard" 6000

# A stand-in for CloudFormation's response bucket: 200 to every PUT, whose body it keeps.
response_port=$(free_port)
background python3 -c '
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()' "$response_port" "$out/cloudformation-responses.jsonl"
wait_for_port "$response_port" 10 || die "the response double did not start"

# events/migrate-create.json with its ResponseURL pointed at the double (path and query kept).
python3 - "$response_port" events/migrate-create.json >"$payloads/migrate-create.json" <<'PY'
import json, sys, urllib.parse as u
e = json.load(open(sys.argv[2]))
parts = u.urlsplit(e["ResponseURL"])
e["ResponseURL"] = u.urlunsplit(("http", "127.0.0.1:" + sys.argv[1], parts.path, parts.query, ""))
json.dump(e, sys.stdout)
PY

# The emulators. --ignore-changes: edits to the tree during the run must not rebuild a function.
port=$(free_port)
background cargo lambda watch --ignore-changes --invoke-port "$port" --timeout 300 >"$out/watch.log" 2>&1
token=$(python3 -c 'import json; print(json.load(open("events/cron-trigger.json"))["headers"]["authorization"].split()[1])')
signature=$(python3 -c 'import json,urllib.parse as u; q=u.parse_qs(u.urlsplit(json.load(open("events/migrate-create.json"))["ResponseURL"]).query); print(q["X-Amz-Signature"][0])')
trace_port=$(free_port)
AWS_LAMBDA_LOG_LEVEL=TRACE CRON_SECRET="$token" INGEST_FUNCTION_NAME=ingest \
  AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$trace_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator \
  background cargo lambda watch --ignore-changes --invoke-port "$trace_port" --timeout 300 >"$out/watch-trace.log" 2>&1
wait_for_port "$port" 60 || die "cargo lambda watch did not start: see .local/lambda-emulator/watch.log"
wait_for_port "$trace_port" 60 || die "cargo lambda watch (TRACE) did not start: see .local/lambda-emulator/watch-trace.log"

# The checks read these: the migrations the schema must end with, and the tracked sets.
MIGRATIONS=$(find migrations -name 'V*__*.sql' -printf '%f\n' | sed 's/\.sql$//' | sort -V | paste -sd, -)
export MIGRATIONS

# The assertions' helpers: r is the answer, b its parsed body (HTTP functions), answer(NAME) an
# earlier answer, window(...) what a prices payload must return given the data ingested.
cat >"$out/check.py" <<'PY'
import datetime as dt, json, os, re, sys
OUT, NAME, CODE = sys.argv[1], sys.argv[2], sys.argv[3]
env = os.environ
COINS = env["TRACKED_COINS"].split(",")
CURRENCIES = env["TRACKED_CURRENCIES"].split(",")
NOW = dt.datetime.now(dt.timezone.utc)
DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)

def answer(name):
    with open(os.path.join(OUT, name + ".json")) as f:
        return json.load(f)

def body(response):
    """An HTTP answer's JSON body (None for other answers, and for a CSV one)."""
    json_type = response.get("headers", {}).get("content-type", "").startswith("application/json")
    return json.loads(response["body"]) if isinstance(response.get("body"), str) and json_type else None

def ts(value):
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))

def recent(value, within):
    return NOW - within <= ts(value) <= NOW + dt.timedelta(minutes=1)

def query(name):
    return answer(name + ".event")["queryStringParameters"]

def window(q):
    """'points', 'none' or 'edge': what a full ingestion (the last 90 days, from the first UTC
    midnight within them) must give for the range of prices query q."""
    start = lambda v: ts(v if "T" in v else v + "T00:00:00Z")
    end = lambda v: ts(v) if "T" in v else ts(v + "T00:00:00Z") + DAY - dt.timedelta(microseconds=1)
    lo, hi = start(q["from"]), end(q["to"])
    stored_from = NOW - dt.timedelta(days=89)
    if hi < NOW - dt.timedelta(days=91) or lo > NOW:
        return "none"
    return "points" if lo >= stored_from and hi <= NOW + DAY else "edge"

r = answer(NAME)
b = body(r)
try:
    exec(CODE)
except Exception as e:  # an assertion, or an answer without the expected fields
    what = str(e) if isinstance(e, AssertionError) and str(e) else f"{type(e).__name__}: {e}"
    print(f"not ok - {NAME}: {what}")
    print("  answer: " + json.dumps(r)[:1500])
    sys.exit(1)
PY

passed=0
failed=0
failures=()
declare -A invoked=()
# run NAME PORT FUNCTION EVENT_FILE <<ASSERTIONS: invokes FUNCTION with EVENT_FILE through the
# emulator on PORT, keeps the answer in $out/NAME.json (and the payload in NAME.event.json),
# then runs ASSERTIONS (Python, read from stdin; helpers above). One check: a failure is
# counted, not fatal.
run() {
  local name=$1 port=$2 function=$3 event=$4 code shown=${4#"$ROOT/"}
  code=$(cat)
  invoked[$function]=1
  cp "$event" "$out/$name.event.json"
  if ! timeout 300 cargo lambda invoke "$function" --invoke-port "$port" --data-file "$event" \
    >"$out/$name.json" 2>>"$out/invoke.log" </dev/null; then
    echo "not ok - $name: cargo lambda invoke $function --data-file $shown failed (see .local/lambda-emulator/)"
    failed=$((failed + 1)); failures+=("$name"); return 0
  fi
  if python3 "$out/check.py" "$out" "$name" "$code"; then
    echo "ok - $name ($function --data-file $shown)"
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$name")
  fi
}

# A copy of a prices payload moved to recent dates: FILE FROM TO -> $payloads/FILE-recent.json.
recent_prices() {
  python3 - "$1" "$2" "$3" >"$payloads/$(basename "$1" .json)-recent.json" <<'PY'
import json, sys, urllib.parse as u
e = json.load(open(sys.argv[1]))
q = dict(e["queryStringParameters"], **{"from": sys.argv[2], "to": sys.argv[3]})
e["queryStringParameters"] = q
e["rawQueryString"] = u.urlencode(q)
json.dump(e, sys.stdout)
PY
}

say "migrate (at TRACE), on an empty database"
run migrate "$trace_port" migrate "$payloads/migrate-create.json" <<'PY'
e = answer("migrate.event")
assert r["Status"] == "SUCCESS", r.get("Reason")
assert r["Data"] == {"Applied": env["MIGRATIONS"], "ReaderRole": "", "WriterRole": "", "TriggerRole": ""}, f"every migration applied: {r['Data']}"
assert (r["RequestId"], r["LogicalResourceId"], r["StackId"]) == (e["RequestId"], e["LogicalResourceId"], e["StackId"])
assert r["PhysicalResourceId"] == "crypto-dashboard-database-migrations", r["PhysicalResourceId"]
sent = [json.loads(line) for line in open(os.path.join(OUT, "cloudformation-responses.jsonl"))]
assert sent == [r], f"CloudFormation got the same answer, once: {sent}"
PY
run migrate-again "$trace_port" migrate "$payloads/migrate-create.json" <<'PY'
assert r["Status"] == "SUCCESS", r.get("Reason")
assert r["Data"]["Applied"] == "", f"nothing left to apply: {r['Data']}"
PY

say "ingest"
run ingest-full "$port" ingest events/ingest-full.json <<'PY'
pairs = len(COINS) * len(CURRENCIES)
assert (r["trigger"], r["mode"], r["cleanFirst"], r["status"]) == ("manual", "full", True, "succeeded"), r
assert r["pairs"] == {"ok": pairs, "failed": 0, "skipped": 0}, r["pairs"]
assert r["simulated"] is True and r["failures"] == []
assert r["rows"]["hourly"] >= pairs * 88 * 24 and r["rows"]["daily"] >= pairs * 89, f"90 days of rows: {r['rows']}"
PY
run ingest-scheduled "$port" ingest events/ingest-scheduled.json <<'PY'
assert (r["trigger"], r["mode"], r["cleanFirst"], r["status"]) == ("schedule", "incremental", False, "succeeded"), r
assert r["pairs"]["ok"] == len(COINS) * len(CURRENCIES) and r["failures"] == [], r["pairs"]
PY
run ingest-incremental "$port" ingest events/ingest-incremental.json <<'PY'
assert (r["trigger"], r["mode"], r["cleanFirst"], r["status"]) == ("manual", "incremental", False, "succeeded"), r
assert r["pairs"]["ok"] == len(COINS) * len(CURRENCIES) and r["failures"] == [], r["pairs"]
PY

say "the HTTP functions"
run health "$port" health events/health.json <<'PY'
assert r["statusCode"] == 200 and r["headers"]["cache-control"] == "public, s-maxage=10, max-age=0", r
d = b["data"]
# History is fresh, but no live refresh has run yet (live refresh on by default): degraded.
assert b["success"] is True and (d["status"], d["database"]) == ("degraded", "ok"), b
last = answer("ingest-incremental")
assert d["lastIngestion"]["runId"] == last["runId"] and d["lastIngestion"]["status"] == "succeeded", d["lastIngestion"]
assert d["lastIngestion"]["stale"] is False and d["lastLiveRefresh"] is None and d["liveEveryMinutes"] == 10, d
PY
run coins-list "$port" coins-list events/coins-list.json <<'PY'
assert r["statusCode"] == 200, r
got = [(c["id"], c["symbol"], c["name"]) for c in b["data"]]
assert got == [("bitcoin", "btc", "Bitcoin"), ("ethereum", "eth", "Ethereum")], got
assert all(c["imageUrl"] for c in b["data"]), b
PY
run coin-detail "$port" coin-detail events/coin-detail.json <<'PY'
assert r["statusCode"] == 200, r
d = b["data"]
assert (d["id"], d["symbol"], d["name"]) == ("bitcoin", "btc", "Bitcoin"), d
assert d["description"].startswith("Bitcoin (BTC)") and "<" not in d["description"], f"a plain-text description: {d['description']!r}"
assert d["websiteUrl"] and d["imageUrl"], d
assert sorted(d["latest"]) == sorted(CURRENCIES), f"latest in exactly the tracked currencies: {d['latest']}"
for code, latest in d["latest"].items():
    assert latest and latest["price"] > 0 and recent(latest["at"], 3 * HOUR), f"{code}: {latest}"
PY
run currencies "$port" currencies events/currencies.json <<'PY'
assert r["statusCode"] == 200, r
assert b["data"] == [{"code": "usd", "name": "US Dollar"}, {"code": "eur", "name": "Euro"}], b
PY
run market "$port" market events/market.json <<'PY'
assert r["statusCode"] == 200 and r["headers"]["cache-control"] == "public, max-age=300", r
currency = query(NAME)["currency"]
assert [c["id"] for c in b["data"]] == COINS, b
for c in b["data"]:
    assert c["price"] > 0 and recent(c["updatedAt"], 3 * HOUR), c
    assert isinstance(c["change24h"], float) and isinstance(c["change7d"], float), c
    spark = c["sparkline7d"]
    # A week of hours, every fourth shown (42 points).
    assert len(spark) >= 40 and all(p > 0 for p in spark), f"{c['id']}: {len(spark)} sparkline points"
    # The sparkline is drawn at 5 significant digits: it ends at the price so rounded.
    assert abs(spark[-1] - c["price"]) <= abs(c["price"]) * 1e-4, f"{c['id']}: the sparkline ends at the price"
detail = body(answer("coin-detail"))["data"]
assert b["data"][0]["price"] == detail["latest"][currency]["price"], f"market and coin-detail agree on bitcoin's latest {currency} price"
PY

# A prices answer: the payload echoed, the points ordered, one per day or hour without a gap,
# and present or absent as the ingested window says.
prices_check=$(cat <<'PY'
q = query(NAME)
daily = q["interval"] == "daily"
assert r["statusCode"] == 200, r
d = b["data"]
assert (d["coinId"], d["currency"], d["interval"]) == ("ethereum", q["currency"], q["interval"]), d
# The range answered: the payload's, or without one the default (to: now; from: 30 days
# before for daily, 7 days for hourly).
if daily:
    to = q.get("to", NOW.date().isoformat())
    assert d["to"] == to or ("to" not in q and abs(dt.date.fromisoformat(d["to"]) - NOW.date()) <= DAY), d
    assert d["from"] == q.get("from", (dt.date.fromisoformat(d["to"]) - 30 * DAY).isoformat()), d
    keys = [p["date"] for p in d["points"]]
    step, at = DAY, lambda k: ts(k + "T00:00:00Z")
elif "from" in q or "to" in q:
    assert (ts(d["from"]), ts(d["to"])) == (ts(q["from"]), ts(q["to"])), d
else:
    # "now" may be read as the end of the current hour
    assert NOW - dt.timedelta(minutes=5) <= ts(d["to"]) <= NOW + HOUR and ts(d["to"]) - ts(d["from"]) == 7 * DAY, d
if not daily:
    keys = [p["timestamp"] for p in d["points"]]
    step, at = HOUR, ts
q = dict(q, **{"from": d["from"], "to": d["to"]})
assert all(p["price"] > 0 for p in d["points"]), d["points"]
times = [at(k) for k in keys]
assert all(y - x == step for x, y in zip(times, times[1:])), f"ordered, one per {q['interval']} step, no gap: {keys}"
expected = window(q)
if expected == "none":
    assert d["points"] == [], f"{q['from']}..{q['to']} is older than the ingested days: no points, got {len(keys)}"
    print(f"  note: {NAME} asks for {q['from']}..{q['to']}, outside the days a full ingestion stores: it must answer no points")
elif expected == "points":
    lo = ts(q["from"]) if "T" in q["from"] else ts(q["from"] + "T00:00:00Z")
    hi = ts(q["to"]) if "T" in q["to"] else ts(q["to"] + "T00:00:00Z") + DAY
    want = min(hi, NOW) - lo
    first = lo + dt.timedelta(seconds=-lo.timestamp() % step.total_seconds())  # the first whole step
    assert times and times[0] == first and len(times) >= want / step - 1, f"the whole range: {len(times)} points from {keys[:1]}"
    assert times[-1] >= min(hi, NOW) - 2 * step, f"up to the end of the range: {keys[-1:]}"
PY
)
run prices "$port" prices events/prices.json <<<"$prices_check"
run prices-hourly "$port" prices events/prices-hourly.json <<<"$prices_check"
recent_prices events/prices.json "$(date -u -d '30 days ago' +%F)" "$(date -u +%F)"
run prices-recent "$port" prices "$payloads/prices-recent.json" <<<"$prices_check"
recent_prices events/prices-hourly.json "$(date -u -d '48 hours ago' +%Y-%m-%dT%H:00:00Z)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
run prices-hourly-recent "$port" prices "$payloads/prices-hourly-recent.json" <<<"$prices_check"

# A CSV answer of the daily ethereum/eur default range: the headers, CRLF lines, and the JSON
# answer's points with the same number texts when both cover the same days (the day may turn
# between the two invocations).
csv_check=$(cat <<'PY'
h = r["headers"]
assert r["statusCode"] == 200 and r.get("isBase64Encoded") is False, r
assert (h["content-type"], h["cache-control"], h["vary"]) == ("text/csv; charset=utf-8", "public, max-age=300", "Accept"), h
name = re.fullmatch(r'attachment; filename="ethereum-eur-daily-(\d{4}-\d\d-\d\d)-(\d{4}-\d\d-\d\d)\.csv"', h["content-disposition"])
assert name, h["content-disposition"]
text = r["body"]
assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), f"CRLF line ends: {text[:120]!r}"
lines = text.split("\r\n")[:-1]
assert lines[0] == "date,price" and len(lines) >= 29, f"the header row and a month of days: {lines[:3]}"
json_answer = answer("prices")
d = body(json_answer)["data"]
if (name[1], name[2]) == (d["from"], d["to"]):
    texts = [part.split("}")[0] for part in json_answer["body"].split('"price":')[1:]]
    want = [f"{p['date']},{t}" for p, t in zip(d["points"], texts)]
    assert lines[1:] == want, f"the JSON answer's points as it writes them: {lines[1:3]} vs {want[:2]}"
else:
    print(f"  note: {NAME} covers {name[1]}..{name[2]}, the JSON answer {d['from']}..{d['to']} (the day turned)")
if NAME.endswith("-accept") and answer("prices-csv")["headers"]["content-disposition"] == h["content-disposition"]:
    assert text == answer("prices-csv")["body"], "Accept: text/csv answers what format=csv does"
PY
)
run prices-csv "$port" prices events/prices-csv.json <<<"$csv_check"
# events/prices-csv.json asking by Accept alone: no format in the query, Accept: text/csv.
python3 - events/prices-csv.json >"$payloads/prices-csv-accept.json" <<'PY'
import json, sys, urllib.parse as u
e = json.load(open(sys.argv[1]))
q = {k: v for k, v in e["queryStringParameters"].items() if k != "format"}
e["queryStringParameters"], e["rawQueryString"] = q, u.urlencode(q)
e["headers"]["accept"] = "text/csv"
json.dump(e, sys.stdout)
PY
run prices-csv-accept "$port" prices "$payloads/prices-csv-accept.json" <<<"$csv_check"

run ingestion-runs "$port" ingestion-runs events/ingestion-runs.json <<'PY'
assert r["statusCode"] == 200 and r["headers"]["cache-control"] == "public, s-maxage=10, max-age=0", r
made = [answer(n) for n in ("ingest-incremental", "ingest-scheduled", "ingest-full")]
runs = b["data"]
assert len(runs) <= int(query(NAME)["limit"]), len(runs)
got = [(x["runId"], x["trigger"], x["mode"], x["status"], x["simulated"]) for x in runs]
want = [(m["runId"], m["trigger"], m["mode"], m["status"], True) for m in made]
assert got == want, f"the runs just made, newest first: {got}"
assert got[1][1:3] == ("schedule", "incremental"), f"the scheduled event is stored as a scheduled run: {got[1]}"
for x, m in zip(runs, made):
    assert x["finishedAt"] and ts(x["startedAt"]) <= ts(x["finishedAt"]) and recent(x["finishedAt"], HOUR), x
    assert x["report"]["pairs"] == m["pairs"] and x["report"]["failures"] == [], x["report"]
PY

say "live-quotes: the scheduled event and a manual refresh, then the market"
live_check=$(cat <<'PY'
pairs = len(COINS) * len(CURRENCIES)
trigger = "schedule" if NAME.endswith("-scheduled") else "manual"
assert (r["trigger"], r["mode"], r["cleanFirst"], r["status"]) == (trigger, "latest", False, "succeeded"), r
assert r["pairs"] == {"ok": pairs, "failed": 0, "skipped": 0} and r["failures"] == [], r["pairs"]
assert r["rows"]["latest"] == pairs, f"one quote per pair: {r['rows']}"
assert r["calls"]["simplePrice"] == r["apiCalls"] == 1, f"one /simple/price call: {r['calls']}"
PY
)
run live-quotes-scheduled "$port" live-quotes events/live-quotes-scheduled.json <<<"$live_check"
run live-quotes-manual "$port" live-quotes events/live-quotes-manual.json <<<"$live_check"
run ingestion-runs-after-live "$port" ingestion-runs events/ingestion-runs.json <<'PY'
assert r["statusCode"] == 200, r
made = [answer(n) for n in ("live-quotes-manual", "live-quotes-scheduled")]
got = [(x["runId"], x["trigger"], x["mode"], x["status"]) for x in b["data"][:2]]
want = [(m["runId"], t, "latest", "succeeded") for m, t in zip(made, ("manual", "schedule"))]
assert got == want, f"the live refreshes as stored, newest first (the scheduled one as schedule): {got}"
PY
run health-after-live "$port" health events/health.json <<'PY'
d = b["data"]
assert r["statusCode"] == 200 and (d["status"], d["database"]) == ("ok", "ok"), b
assert d["lastIngestion"]["runId"] == answer("ingest-incremental")["runId"], d["lastIngestion"]
assert d["lastLiveRefresh"]["runId"] == answer("live-quotes-manual")["runId"], d["lastLiveRefresh"]
assert d["lastLiveRefresh"]["stale"] is False, d["lastLiveRefresh"]
PY
run market-after-latest "$port" market events/market.json <<'PY'
assert r["statusCode"] == 200, r
before = {c["id"]: c for c in body(answer("market"))["data"]}
assert [c["id"] for c in b["data"]] == COINS, b
for c in b["data"]:
    assert c["marketCap"] > 0 and c["volume24h"] > 0, f"{c['id']}: market cap and volume from the quote: {c}"
    assert c["price"] > 0 and c["stale"] is False and recent(c["updatedAt"], 5 * dt.timedelta(minutes=1)), c
    assert ts(c["updatedAt"]) >= ts(before[c["id"]]["updatedAt"]), f"{c['id']}: the quote is the newest price"
    assert c["sparkline7d"] == before[c["id"]]["sparkline7d"], f"{c['id']}: the hourly history is unchanged"
PY

say "cron-trigger (at TRACE): the run it starts appears and succeeds"
run cron-trigger "$trace_port" cron-trigger events/cron-trigger.json <<'PY'
import uuid
assert r["statusCode"] == 202, r
assert b["success"] is True and uuid.UUID(b["data"]["runId"]), b
PY
# The accepted run is recorded as running at once; the ingest function (invoked asynchronously
# through the TRACE emulator) finishes it. Wait for that, at most 120 s, then check the list.
cron_run=$(python3 -c 'import json,sys; print(json.loads(json.load(open(sys.argv[1]))["body"])["data"]["runId"])' "$out/cron-trigger.json" 2>/dev/null || true)
for ((i = 0; i < 60 && ${#cron_run} > 0; i++)); do
  timeout 60 cargo lambda invoke ingestion-runs --invoke-port "$port" --data-file events/ingestion-runs.json \
    >"$out/poll.json" 2>>"$out/invoke.log" </dev/null || true
  python3 - "$out/poll.json" "$cron_run" <<'PY' && break
import json, sys
runs = json.loads(json.load(open(sys.argv[1]))["body"])["data"]
sys.exit(0 if runs and runs[0]["runId"] == sys.argv[2] and runs[0]["status"] != "running" else 1)
PY
  sleep 2
done
run ingestion-runs-after-cron "$port" ingestion-runs events/ingestion-runs.json <<'PY'
cron = body(answer("cron-trigger"))["data"]["runId"]
live = [answer(n)["runId"] for n in ("live-quotes-manual", "live-quotes-scheduled")]
before = live + [x["runId"] for x in body(answer("ingestion-runs"))["data"]]
runs = b["data"]
assert runs[0]["runId"] == cron, f"the accepted run is the newest: {[x['runId'] for x in runs]}"
assert (runs[0]["trigger"], runs[0]["mode"], runs[0]["status"]) == ("http", "incremental", "succeeded"), runs[0]
assert runs[0]["report"]["pairs"]["ok"] == len(COINS) * len(CURRENCIES), runs[0]["report"]
assert (runs[1]["mode"], runs[1]["status"]) == ("latest", "succeeded"), runs[1]
want = before[:int(query(NAME)["limit"]) - 1]
assert [x["runId"] for x in runs[1:]] == want, f"the earlier runs follow it, newest first: {[x['runId'] for x in runs[1:]]}"
PY

# TRACE through the real runtime path: at TRACE lambda_runtime logs every raw event (the bearer
# token, CloudFormation's pre-signed response URL). The functions cap those targets at INFO, so
# neither may appear anywhere in the TRACE emulator's output.
sleep 1 # let the emulator flush the last lines of the async ingest run
trace_problems=()
grep -q 'TRACE' "$out/watch-trace.log" ||
  trace_problems+=("nothing was logged at TRACE: the level did not take effect")
if grep -qF "$token" "$out/watch-trace.log"; then trace_problems+=("the cron bearer token appears"); fi
if grep -qF "$signature" "$out/watch-trace.log"; then trace_problems+=("the response URL's signature appears"); fi
if [ ${#trace_problems[@]} -eq 0 ]; then
  echo "ok - no token or signature in the TRACE logs"
  passed=$((passed + 1))
else
  printf 'not ok - TRACE logs (.local/lambda-emulator/watch-trace.log): %s\n' "${trace_problems[@]}"
  failed=$((failed + 1)); failures+=("trace-logs")
fi

# Every function ran at least once (a check removed by mistake would leave one out).
for function in $FUNCTIONS; do
  if [ -z "${invoked[$function]:-}" ]; then
    echo "not ok - $function was never invoked"
    failed=$((failed + 1)); failures+=("$function (never invoked)")
  fi
done

# Listed: each `run` line of this file, and the TRACE check.
record_suite lambda-emulator "$passed" "$failed" 0 $(($(grep -c '^run ' "$ROOT/scripts/test-lambda-emulator.sh") + 1))
[ "$failed" -eq 0 ] || die "lambda emulator: failed: ${failures[*]} (answers and logs in .local/lambda-emulator/)"
