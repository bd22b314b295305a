# Shared shell helpers for the dev and test scripts. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local"   # git-ignored: clusters, venv, logs
mkdir -p "$LOCAL_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

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
