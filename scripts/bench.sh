#!/usr/bin/env bash
# `make bench`: measures what a Lambda user pays for and what the issues promise, on this
# machine, and writes docs/benchmarks.md afresh. Bounded: every step has a timeout; all load
# goes to 127.0.0.1. Takes a while (release builds with fat LTO, a first full run and a second
# run paced at 30/min: about 5 minutes of the total).
#
#   BENCH_RUNS=5 BENCH_COLD_RUNS=20 BENCH_LIVE_RUNS=20 BENCH_SKIP_ZIP=1 make bench
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

out="$LOCAL_DIR/bench"
# Every figure of the report comes from this run: nothing left over from an earlier one.
rm -rf "$out"
mkdir -p "$out"
trap 'stop_background; scripts/pg.sh destroy pg-bench >/dev/null 2>&1 || true' EXIT
command -v wrk >/dev/null 2>&1 || apt_install wrk

say "release build of every binary (fat LTO)"
cargo build --release --locked --workspace --bins
bin="$(target_dir)/release"

# The measurements of the original's behaviour follow its eleven coins (the simulated month
# sets its own tracked set, the defaults).
export TRACKED_COINS=$ORIGINAL_COINS

say "PostgreSQL for the benchmarks (default durability settings)"
DATABASE_URL=$(scripts/pg.sh start pg-bench)
export DATABASE_URL
admin_url=$DATABASE_URL

say "write path: ours vs per-row INSERT vs COPY (${BENCH_RUNS:-5} runs)"
timeout 1800 "$bin/bench" write-path --runs "${BENCH_RUNS:-5}" >"$out/write_path.json"

say "first full run (100 calls) then a second run, at 30/min against a simulator enforcing 30/min (~5 min)"
timeout 900 "$bin/bench" first-run --per-min 30 --second-per-min 30 >"$out/first_run.json"

say "a simulated month at the defaults (top:100 + the eleven, Demo budget), 60x faster (~25 min)"
timeout 3600 "$bin/bench" month --days 31 >"$out/month.json"

say "a database filled by a full (simulated) ingestion"
DATABASE_URL=$(fresh_database bench_api)
export DATABASE_URL
simulated_ingestion "$bin/crypto-dashboard"
cp "$LOCAL_DIR/simulated-ingest.json" "$out/ingest_report.json"

say "live refresh end to end: ${BENCH_LIVE_RUNS:-20} runs of ingest mode latest"
timeout 600 "$bin/bench" live-refresh --runs "${BENCH_LIVE_RUNS:-20}" >"$out/live.json"

say "handler latency in process"
timeout 600 "$bin/bench" handlers --iterations 2000 >"$out/handlers.json"

say "top:1000 x 4 currencies, 8.6 million hourly rows (and 11 coins, same generator): size, routes, live refresh, RSS, status (bench scale, ~10 min)"
timeout 1800 "$bin/bench" scale --database-url "$admin_url" --coins 1000 --bin-dir "$bin" >"$out/scale.json"

say "wrk against crypto-dashboard serve"
port=$(free_port)
background "$bin/crypto-dashboard" serve --port "$port" --pool-size 8 2>/dev/null
wait_for_port "$port" 30 || die "serve did not start"
from=$(date -u -d '90 days ago' +%F)
: >"$out/wrk.txt"
for route in "prices /api/coins/bitcoin/prices?currency=usd&interval=daily&from=$from" "market /api/market?currency=usd"; do
  name=${route%% *}
  path=${route#* }
  for run in 1 2 3; do
    echo "### $name $run $path" >>"$out/wrk.txt"
    timeout 60 wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$port$path" >>"$out/wrk.txt" 2>&1
  done
done
stop_background

say "wrk at top:1000: the prices route and the market's first page of 100 in every sort"
port=$(free_port)
background env DATABASE_URL="$(DATABASE_URL=$admin_url database_url bench_scale)" \
  "$bin/crypto-dashboard" serve --port "$port" --pool-size 8 2>/dev/null
wait_for_port "$port" 30 || die "serve did not start"
: >"$out/wrk_scale.txt"
routes=("prices /api/coins/bitcoin/prices?currency=usd&interval=daily&from=$from")
for sort in rank name price change1h change24h change7d marketCap volume24h; do
  routes+=("market-$sort /api/market?currency=usd&sort=$sort")
done
for route in "${routes[@]}"; do
  name=${route%% *}
  path=${route#* }
  # Three runs of the baseline, one per sort.
  runs=1
  [ "$name" = prices ] && runs=3
  for run in $(seq "$runs"); do
    echo "### $name $run $path" >>"$out/wrk_scale.txt"
    timeout 60 wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$port$path" >>"$out/wrk_scale.txt" 2>&1
  done
done
stop_background

say "cold starts (${BENCH_COLD_RUNS:-20} fresh processes per function)"
timeout 1800 "$bin/bench" cold-start --bin-dir "$bin" --runs "${BENCH_COLD_RUNS:-20}" >"$out/cold_start.json"

if [ -z "${BENCH_SKIP_ZIP:-}" ]; then
  say "arm64 Lambda zips (scripts/build-lambdas.sh; incremental after the first build)"
  scripts/build-lambdas.sh | tee "$out/zips-table.txt" >&2 || true
  : >"$out/zips.txt"
  for f in functions/*/; do
    name=$(basename "$f")
    zip="$(target_dir)/lambda/$name/bootstrap.zip"
    if [ -f "$zip" ]; then echo "$name $(stat -c %s "$zip")" >>"$out/zips.txt"; fi
  done
fi

say "dashboard weight"
build_dashboard
python3 - "$ROOT/dashboard/dist" >"$out/dashboard.json" <<'PY'
import gzip, json, os, sys
root = sys.argv[1]
files = {}
for base, _, names in os.walk(root):
    for n in names:
        p = os.path.join(base, n)
        data = open(p, "rb").read()
        files[os.path.relpath(p, root)] = {"bytes": len(data), "gzip": len(gzip.compress(data, 9))}
print(json.dumps(files))
PY

say "the dashboard on a slow phone over top:300 from the simulator: load times and Lighthouse mobile (${BENCH_PHONE_RUNS:-5} runs each)"
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || apt_install chromium "or set CHROMIUM_PATH"
lighthouse="$LOCAL_DIR/lighthouse/node_modules/.bin/lighthouse"
if [ ! -x "$lighthouse" ]; then
  say "installing Lighthouse 12.2.3 into .local/lighthouse (13 wants Node 22)"
  npm install --prefix "$LOCAL_DIR/lighthouse" --no-audit --no-fund --loglevel=error -E lighthouse@12.2.3 >&2 ||
    die "npm install lighthouse failed"
fi
DATABASE_URL=$(DATABASE_URL=$admin_url fresh_database bench_dashboard) TRACKED_COINS="top:300,$ORIGINAL_COINS" \
  simulated_ingestion "$bin/crypto-dashboard"
port=$(free_port)
background env DATABASE_URL="$(DATABASE_URL=$admin_url database_url bench_dashboard)" \
  "$bin/crypto-dashboard" serve --port "$port" 2>/dev/null
wait_for_port "$port" 30 || die "serve did not start"
(cd dashboard && timeout 900 node bench/phone-load.mjs "http://127.0.0.1:$port" "${BENCH_PHONE_RUNS:-5}") >"$out/phone_load.json"
# Lighthouse's own mobile throttling (simulated slow 4G, 4x CPU) on a 390 px screen.
for page in "overview /" "coin /#/coin/bitcoin?currency=usd"; do
  for run in $(seq "${BENCH_PHONE_RUNS:-5}"); do
    CHROME_PATH=${CHROMIUM_PATH:-/usr/bin/chromium} timeout 300 "$lighthouse" "http://127.0.0.1:$port${page#* }" \
      --quiet --chrome-flags="--headless=new --no-sandbox" --form-factor=mobile --screenEmulation.mobile \
      --screenEmulation.width=390 --screenEmulation.height=844 --screenEmulation.deviceScaleFactor=3 \
      --output=json --output-path="$out/lighthouse-${page%% *}-$run.json" >&2
  done
done
stop_background

say "writing docs/benchmarks.md"
# Comparisons of a change (measured before and after it, "## Before and after: ...") are kept.
cp docs/benchmarks.md "$out/previous.md" 2>/dev/null || true
python3 scripts/bench_report.py "$out" >docs/benchmarks.md
say "done: docs/benchmarks.md"
