#!/usr/bin/env bash
# `make dev`: start (or reuse) the dev PostgreSQL cluster in .local/pg-dev, apply migrations,
# then run what the later stages add (ingestion, the API and dashboard server).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

stop_pg=""
cleanup() { [ -n "$stop_pg" ] && "$ROOT/scripts/pg.sh" stop pg-dev || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  say "starting (or reusing) the dev PostgreSQL cluster in .local/pg-dev"
  DATABASE_URL=$("$ROOT/scripts/pg.sh" start pg-dev)
  stop_pg=1
  export DATABASE_URL
fi
say "database: $(sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$DATABASE_URL")"

say "building crypto-dashboard"
cargo build --quiet --bin crypto-dashboard
bin="$ROOT/target/debug/crypto-dashboard"

say "applying migrations"
"$bin" migrate

say "database is migrated. Ingestion and the server are not built yet; run the binary's --help for what exists."
