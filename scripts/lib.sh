# Shared shell helpers for the scripts. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local" # git-ignored: clusters, venvs, logs
VENV="$LOCAL_DIR/venv"   # the project's Python tools (the deploy checks have a venv of their own)
mkdir -p "$LOCAL_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Where cargo puts build outputs (and cargo-lambda its zips, under lambda/): CARGO_TARGET_DIR,
# a cargo config's build.target-dir, or target/. Scripts never assume target/.
target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# apt_install PACKAGE [HINT]: Debian's package, when we are root and have apt-get; else an error
# that says what to install (and HINT, another way out).
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "$1 is missing: sudo apt-get install $1${2:+ ($2)}"
  fi
  say "installing Debian's $1"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2 || die "apt-get install $1 failed"
}

# ensure_tool COMMAND PACKAGE: pip-installs PACKAGE into .local/venv unless COMMAND is there.
ensure_tool() {
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if [ ! -x "$VENV/bin/$1" ]; then
    say "installing $2 into .local/venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$2" >&2 || die "pip install $2 failed"
  fi
}

# dev_cron_token: the cron token of one `make dev` session: CRON_SECRET when set, else 64 fresh
# random hex digits (a fixed default would be known to every web page that reaches the machine).
dev_cron_token() {
  if [ -n "${CRON_SECRET:-}" ]; then
    printf '%s\n' "$CRON_SECRET"
  else
    python3 -c 'import secrets; print(secrets.token_hex(32))'
  fi
}

# record_suite SUITE PASSED FAILED [SKIPPED [LISTED]]: a test suite's counts, and LISTED, the
# number of its tests found without running them. Printed, and under scripts/test.sh (which sets
# TEST_SUMMARY_FILE) added to the file its summary is built from.
record_suite() {
  printf '%s: %d passed, %d failed, %d skipped\n' "$1" "$2" "$3" "${4:-0}"
  if [ -n "${TEST_SUMMARY_FILE:-}" ]; then
    printf '%s %d %d %d %s\n' "$1" "$2" "$3" "${4:-0}" "${5:--}" >>"$TEST_SUMMARY_FILE"
  fi
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait until 127.0.0.1:$1 accepts connections (at most $2 seconds).
wait_for_port() {
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Starts COMMAND in the background, remembering its pid for stop_background.
BACKGROUND_PIDS=()
background() {
  "$@" &
  BACKGROUND_PIDS+=($!)
}
stop_background() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  BACKGROUND_PIDS=()
}

# The URL of database NAME on the server of DATABASE_URL.
database_url() {
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$DATABASE_URL" "$1"
}

# Creates database NAME on the server of DATABASE_URL (dropping an old one) and prints its URL.
fresh_database() {
  command -v psql >/dev/null 2>&1 || die "psql is missing (Debian: apt-get install postgresql-client)"
  PGOPTIONS="-c client_min_messages=warning" psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >&2 || die "could not create database $1"
  database_url "$1"
}

# Builds the dashboard into dashboard/dist (npm ci the first time).
build_dashboard() {
  command -v npm >/dev/null 2>&1 || die "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"
  if [ ! -d "$ROOT/dashboard/node_modules" ] || [ "$ROOT/dashboard/package-lock.json" -nt "$ROOT/dashboard/node_modules/.package-lock.json" ]; then
    say "npm ci (dashboard)"
    (cd "$ROOT/dashboard" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in dashboard/"
  fi
  say "building the dashboard"
  (cd "$ROOT/dashboard" && npm run --silent build >&2) || die "dashboard build failed"
}

# start_simulator BIN RATE_PER_MIN: the CoinGecko simulator of BIN (a crypto-dashboard binary)
# in the background; exports COINGECKO_BASE_URL and COINGECKO_RATE_LIMIT_PER_MIN (unless set).
start_simulator() {
  local port
  port=$(free_port)
  background "$1" simulate-coingecko --port "$port" 2>/dev/null
  wait_for_port "$port" 30 || die "the CoinGecko simulator did not start"
  export COINGECKO_BASE_URL="http://127.0.0.1:$port/api/v3"
  export COINGECKO_RATE_LIMIT_PER_MIN=${COINGECKO_RATE_LIMIT_PER_MIN:-$2}
}

# With BIN: starts the CoinGecko simulator, migrates DATABASE_URL and runs one full ingestion
# of simulated prices, then one live refresh (as a deploy's first schedule would: health judges
# both). Later commands talk to the same simulator.
# The original's eleven coins: the browser and OpenAPI checks of the original's behaviour run
# with TRACKED_COINS set to them (SPEC "Tracked coins and the call budget").
ORIGINAL_COINS=bitcoin,ethereum,tether,binancecoin,solana,ripple,usd-coin,cardano,dogecoin,tron,avalanche-2

simulated_ingestion() {
  start_simulator "$1" 100000
  timeout 60 "$1" migrate 2>/dev/null || die "migrations failed"
  timeout 300 "$1" ingest --mode full >"$LOCAL_DIR/simulated-ingest.json" 2>"$LOCAL_DIR/simulated-ingest.log" ||
    die "the simulated ingestion failed: see .local/simulated-ingest.log"
  timeout 60 "$1" ingest --mode latest >"$LOCAL_DIR/simulated-latest.json" 2>>"$LOCAL_DIR/simulated-ingest.log" ||
    die "the simulated live refresh failed: see .local/simulated-ingest.log"
}

# With BIN: starts `serve` on a free port whose database does not exist (every data route
# answers 503) and sets DOWN_PORT to that port.
serve_without_database() {
  DOWN_PORT=$(free_port)
  DATABASE_URL="postgres://nobody@127.0.0.1:$(free_port)/none" DB_CONNECT_TIMEOUT_SECS=1 \
    background "$1" serve --port "$DOWN_PORT" >/dev/null 2>&1
  wait_for_port "$DOWN_PORT" 30 || die "the database-down server did not start"
}
