# Shared shell helpers for the dev and test scripts. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local"   # git-ignored: clusters, venv, logs

# Where cargo puts build outputs (and cargo-lambda its zips, under lambda/): CARGO_TARGET_DIR,
# a cargo config's build.target-dir, or target/. Scripts never assume target/.
target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
mkdir -p "$LOCAL_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# record_suite SUITE PASSED FAILED [SKIPPED]: a test suite's counts. Printed, and under
# `make test` (which sets TEST_SUMMARY_FILE) added to the file its final summary is built from.
record_suite() {
  local suite=$1 passed=$2 failed=$3 skipped=${4:-0}
  printf '%s: %d passed, %d failed, %d skipped\n' "$suite" "$passed" "$failed" "$skipped"
  if [ -n "${TEST_SUMMARY_FILE:-}" ]; then
    printf '%s %d %d %d\n' "$suite" "$passed" "$failed" "$skipped" >>"$TEST_SUMMARY_FILE"
  fi
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait until 127.0.0.1:$1 accepts connections (at most $2 seconds).
wait_for_port() {
  local port=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Directory holding initdb, pg_ctl and postgres; installs Debian's packages if missing.
pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 ||
      die "apt-get install postgresql failed"
    for dir in /usr/lib/postgresql/*/bin; do
      [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
  fi
  die "PostgreSQL server binaries (initdb, pg_ctl) are missing. On Debian/Ubuntu run: sudo apt-get install postgresql (or set DATABASE_URL to an existing server)"
}

# Run a command as the postgres OS user when we are root (initdb refuses root).
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The project's Python venv (git-ignored), created on first use.
VENV="$LOCAL_DIR/venv"
ensure_venv() {
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
}

# pip-installs PACKAGE into the venv unless COMMAND is already there.
ensure_tool() {
  local command=$1 package=$2
  ensure_venv
  if [ ! -x "$VENV/bin/$command" ]; then
    say "installing $package into .local/venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$package" >&2 || die "pip install $package failed"
  fi
}

# Creates database NAME on the server of DATABASE_URL (dropping an old one) and prints its URL.
fresh_database() {
  local name=$1
  command -v psql >/dev/null 2>&1 || die "psql is missing (Debian: apt-get install postgresql-client)"
  PGOPTIONS="-c client_min_messages=warning" psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >&2 ||
    die "could not create database $name"
  python3 - "$DATABASE_URL" "$name" <<'PY'
import sys, urllib.parse
url, name = sys.argv[1], sys.argv[2]
parts = urllib.parse.urlsplit(url)
print(urllib.parse.urlunsplit(parts._replace(path="/" + name)))
PY
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

# Chromium for the browser tests: Debian's package, installed when missing and we are root.
ensure_chromium() {
  if [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 || die "apt-get install chromium failed"
  else
    die "Chromium is missing: sudo apt-get install chromium (or set CHROMIUM_PATH)"
  fi
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

# With BIN (a crypto-dashboard binary): starts the CoinGecko simulator in the background,
# migrates DATABASE_URL and runs one full ingestion of simulated prices, then one live
# refresh. Exports COINGECKO_BASE_URL so later commands talk to the same simulator.
simulated_ingestion() {
  local bin=$1 port
  port=$(free_port)
  background "$bin" simulate-coingecko --port "$port" 2>/dev/null
  wait_for_port "$port" 30 || die "the CoinGecko simulator did not start"
  export COINGECKO_BASE_URL="http://127.0.0.1:$port/api/v3"
  export COINGECKO_RATE_LIMIT_PER_MIN=${COINGECKO_RATE_LIMIT_PER_MIN:-100000}
  timeout 60 "$bin" migrate 2>/dev/null || die "migrations failed"
  timeout 300 "$bin" ingest --mode full >"$LOCAL_DIR/simulated-ingest.json" 2>"$LOCAL_DIR/simulated-ingest.log" ||
    die "the simulated ingestion failed: see .local/simulated-ingest.log"
  # Then the live quotes, as a deploy's first schedule would: health judges both.
  timeout 60 "$bin" ingest --mode latest >"$LOCAL_DIR/simulated-latest.json" 2>>"$LOCAL_DIR/simulated-ingest.log" ||
    die "the simulated live refresh failed: see .local/simulated-ingest.log"
}

# With BIN: starts `serve` on a free port whose database does not exist (every data route
# answers 503) and sets DOWN_PORT to that port.
serve_without_database() {
  local bin=$1
  DOWN_PORT=$(free_port)
  DATABASE_URL="postgres://nobody@127.0.0.1:$(free_port)/none" DB_CONNECT_TIMEOUT_SECS=1 \
    background "$bin" serve --port "$DOWN_PORT" >/dev/null 2>&1
  wait_for_port "$DOWN_PORT" 30 || die "the database-down server did not start"
}
