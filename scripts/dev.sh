#!/usr/bin/env bash
# `make dev`: start (or reuse) the dev PostgreSQL cluster in .local/pg-dev, apply migrations,
# run one ingestion (live CoinGecko when reachable, else the built-in simulator), then serve.
#
#   COINGECKO=sim make dev     force the simulator
#   COINGECKO=live make dev    fail instead of falling back to the simulator
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

stop_pg=""
trap 'stop_background; [ -z "$stop_pg" ] || scripts/pg.sh stop pg-dev' EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  say "starting (or reusing) the dev PostgreSQL cluster in .local/pg-dev"
  DATABASE_URL=$(scripts/pg.sh start pg-dev)
  stop_pg=1
  export DATABASE_URL
fi
say "database: $(sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$DATABASE_URL")"

say "building crypto-dashboard"
cargo build --quiet --bin crypto-dashboard
bin="$(target_dir)/debug/crypto-dashboard"

say "applying migrations"
"$bin" migrate

live_reachable() {
  python3 - "${COINGECKO_BASE_URL:-https://api.coingecko.com/api/v3}" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/ping", timeout=5).read()
except Exception:
    sys.exit(1)
PY
}

mode=${COINGECKO:-auto}
if [ "$mode" = sim ] || { [ "$mode" = auto ] && ! live_reachable; }; then
  [ "$mode" = auto ] && say "live CoinGecko is unreachable"
  start_simulator "$bin" 600
  export COINGECKO_API_PLAN=public
  printf '\n\033[1;33m!!! USING THE BUILT-IN COINGECKO SIMULATOR: ALL PRICES ARE SIMULATED, NOT MARKET DATA !!!\033[0m\n\n' >&2
elif [ "$mode" = live ] && ! live_reachable; then
  die "COINGECKO=live but CoinGecko is unreachable"
else
  say "using live CoinGecko (${COINGECKO_API_PLAN:-public} plan)"
fi

say "ingesting (incremental: 90 days of hours and a year of daily prices for pairs without data)"
# The live progress goes to the terminal (stderr); the JSON report is kept for reference.
"$bin" ingest >"$LOCAL_DIR/last-run.json" || say "ingestion failed; see the messages above and .local/last-run.json"
say "refreshing live quotes (one /simple/price call)"
"$bin" ingest --mode latest --quiet >"$LOCAL_DIR/last-latest.json" || say "the live quotes failed; see .local/last-latest.json"

build_dashboard
CRON_SECRET=$(dev_cron_token) # random per session unless given
export CRON_SECRET
say "serving on http://127.0.0.1:${PORT:-3000} (dashboard at /, API at /api; Ctrl-C to stop)"
say "try: curl -s 'http://127.0.0.1:${PORT:-3000}/api/market?currency=eur'"
say "cron token of this session: $CRON_SECRET"
say "  curl -s -X POST -H \"Authorization: Bearer $CRON_SECRET\" http://127.0.0.1:${PORT:-3000}/api/cron/fetch-data"
"$bin" serve --port "${PORT:-3000}"
