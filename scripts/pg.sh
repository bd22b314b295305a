#!/usr/bin/env bash
# A throwaway (or reusable) PostgreSQL cluster in .local/NAME on a free loopback port.
#
#   scripts/pg.sh start NAME [--fast]   start it (initdb if new); prints the admin URL
#   scripts/pg.sh stop NAME             stop it (data kept)
#   scripts/pg.sh crash NAME            stop it like a power cut (-m immediate); start reuses the port
#   scripts/pg.sh destroy NAME          stop it and delete its data
#   scripts/pg.sh url NAME              the admin URL of a running cluster
#
# --fast turns fsync off and sets the server's TimeZone to a half-hour zone (tests): every time
# rule must hold in UTC whatever the server's zone, and Asia/Kolkata (+05:30) breaks any SQL
# that truncates or adds days in the session's zone. PG_TIMEZONE overrides the zone.
# Trust authentication for the admin user on loopback only; nothing listens elsewhere. The
# server binaries come from Debian's postgresql package (installed when missing and we are
# root), and run as the postgres OS user when we are root (initdb refuses root).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cmd=${1:?usage: pg.sh start|stop|crash|destroy|url NAME [--fast]}
base="$LOCAL_DIR/${2:?cluster name}" # owned by the postgres user when we are root
data="$base/data"
port_file="$base/port"

as_pg_user() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  runuser -u postgres -- "$@"
}
# The newest server's binaries (a client-only install has psql there, but no initdb).
server_bin() {
  for dir in /usr/lib/postgresql/*/bin; do [ ! -x "$dir/initdb" ] || echo "$dir"; done | sort -V | tail -n 1
}
bin=$(server_bin)
if [ -z "$bin" ] && command -v initdb >/dev/null 2>&1; then bin=$(dirname "$(command -v initdb)"); fi
if [ -z "$bin" ] && [ "$cmd" != url ]; then
  apt_install postgresql "or set DATABASE_URL to an existing server"
  bin=$(server_bin)
fi

case "$cmd" in
start)
  if [ -f "$port_file" ] && as_pg_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:$(cat "$port_file")/postgres"
    exit 0
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$base"
    if [ "$(id -u)" = 0 ]; then as_pg_user true; chown postgres: "$base"; fi
    as_pg_user "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1 ||
      die "initdb failed: see $base/initdb.log"
    # Every role but the admin must give its password (the secret-rotation test relies on that).
    printf '%s\n' 'local all all trust' 'host all postgres 127.0.0.1/32 trust' \
      'host all all 127.0.0.1/32 scram-sha-256' | as_pg_user tee "$data/pg_hba.conf" >/dev/null
  fi
  # A crashed cluster comes back on the same port, so clients can reconnect.
  if [ -f "$port_file" ]; then port=$(cat "$port_file"); else port=$(free_port); fi
  opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$base -c max_connections=200"
  if [ "${3:-}" = --fast ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c TimeZone=${PG_TIMEZONE:-Asia/Kolkata}"
  elif [ -n "${PG_TIMEZONE:-}" ]; then
    opts="$opts -c TimeZone=$PG_TIMEZONE"
  fi
  as_pg_user "$bin/pg_ctl" -D "$data" -l "$base/server.log" -o "$opts" -w -t 60 start >/dev/null ||
    die "PostgreSQL did not start: see $base/server.log"
  echo "$port" >"$port_file"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop | destroy | crash)
  if [ -f "$data/PG_VERSION" ]; then
    as_pg_user "$bin/pg_ctl" -D "$data" -m "$([ "$cmd" = crash ] && echo immediate || echo fast)" -w stop >/dev/null 2>&1 || true
  fi
  if [ "$cmd" != crash ]; then rm -f "$port_file"; fi
  if [ "$cmd" = destroy ]; then rm -rf "$base"; fi
  ;;
url)
  [ -f "$port_file" ] || die "cluster ${2} is not running"
  echo "postgres://postgres@127.0.0.1:$(cat "$port_file")/postgres"
  ;;
*) die "unknown command $cmd" ;;
esac
