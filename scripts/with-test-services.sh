#!/usr/bin/env bash
# Runs a command with the test services up, and stops them afterwards (also on failure or
# Ctrl-C): a throwaway PostgreSQL cluster (fsync off) unless DATABASE_URL is already set,
# and moto_server as the Secrets Manager emulator.
#
#   scripts/with-test-services.sh COMMAND [ARGS...]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cluster="pg-test-$$"
started_pg=""
cleanup() {
  "$ROOT/scripts/moto.sh" stop "$cluster" || true
  [ -n "$started_pg" ] && "$ROOT/scripts/pg.sh" destroy "$cluster" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  say "starting a throwaway PostgreSQL cluster"
  started_pg=1
  DATABASE_URL=$("$ROOT/scripts/pg.sh" start "$cluster" --fast)
  export DATABASE_URL
else
  say "using DATABASE_URL from the environment"
fi
# Tests run pg_ctl themselves for fault injection on the throwaway cluster.
export TEST_PG_CLUSTER_DIR=${started_pg:+$LOCAL_DIR/$cluster/data}

say "starting moto_server (Secrets Manager emulator)"
MOTO_ENDPOINT=$("$ROOT/scripts/moto.sh" start "$cluster")
export MOTO_ENDPOINT

"$@"
