#!/usr/bin/env bash
# A throwaway (or reusable) PostgreSQL cluster on a free loopback port.
#
#   scripts/pg.sh start NAME [--fast]   start .local/NAME (initdb if new); prints the admin URL
#   scripts/pg.sh stop NAME             stop it (data kept)
#   scripts/pg.sh crash NAME            stop it like a power cut (-m immediate); start reuses the port
#   scripts/pg.sh destroy NAME          stop it and delete its data
#   scripts/pg.sh url NAME              the admin URL of a running cluster
#
# --fast turns fsync off and sets the server's TimeZone to a half-hour zone (tests): every time
# rule must hold in UTC whatever the server's zone, and Asia/Kolkata (+05:30) breaks any SQL
# that truncates or adds days in the session's zone. PG_TIMEZONE overrides the zone.
# Trust authentication on loopback only; nothing listens elsewhere. initdb runs as the
# postgres OS user when we are root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cmd=${1:?usage: pg.sh start|stop|crash|destroy|url NAME [--fast]}
name=${2:?cluster name}
fast=${3:-}
base="$LOCAL_DIR/$name"      # owned by the postgres user when we are root
data="$base/data"
port_file="$base/port"

case "$cmd" in
start)
  bin=$(pg_bindir)
  if [ -f "$port_file" ] && as_pg_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    port=$(cat "$port_file")
  else
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$base"
      if [ "$(id -u)" = 0 ]; then as_pg_user true; chown postgres: "$base"; fi
      as_pg_user "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1 ||
        die "initdb failed: see $base/initdb.log"
      # Trust for the admin user on loopback and the socket only; every other role must give
      # its password (the secret-rotation test relies on that).
      as_pg_user tee "$data/pg_hba.conf" >/dev/null <<'HBA'
local all all                   trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
HBA
    fi
    # A crashed cluster comes back on the same port, so clients can reconnect.
    if [ -f "$port_file" ]; then port=$(cat "$port_file"); else port=$(free_port); fi
    opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$base -c max_connections=200"
    if [ "$fast" = --fast ]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      opts="$opts -c TimeZone=${PG_TIMEZONE:-Asia/Kolkata}"
    elif [ -n "${PG_TIMEZONE:-}" ]; then
      opts="$opts -c TimeZone=$PG_TIMEZONE"
    fi
    as_pg_user "$bin/pg_ctl" -D "$data" -l "$base/server.log" -o "$opts" -w -t 60 start >/dev/null ||
      die "PostgreSQL did not start: see $base/server.log"
    echo "$port" >"$port_file"
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop | destroy)
  bin=$(pg_bindir)
  if [ -f "$data/PG_VERSION" ]; then
    as_pg_user "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$port_file"
  if [ "$cmd" = destroy ]; then rm -rf "$base"; fi
  ;;
crash)
  bin=$(pg_bindir)
  as_pg_user "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  ;;
url)
  [ -f "$port_file" ] || die "cluster $name is not running"
  echo "postgres://postgres@127.0.0.1:$(cat "$port_file")/postgres"
  ;;
*) die "unknown command $cmd" ;;
esac
