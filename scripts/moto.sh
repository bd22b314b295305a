#!/usr/bin/env bash
# A local Secrets Manager emulator (moto_server from PyPI) on a free loopback port.
#
#   scripts/moto.sh start [NAME]   installs moto[server] into .local/venv if needed, starts
#                                  it, prints its endpoint URL
#   scripts/moto.sh stop [NAME]
#
# NAME (default "default") keeps concurrent runs (two `make test`s) from stopping each other's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pid_file="$LOCAL_DIR/moto-${2:-default}.pid"

case "${1:?usage: moto.sh start|stop}" in
start)
  ensure_tool moto_server 'moto[server]>=5,<6'
  port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LOCAL_DIR/moto-${2:-default}.log" 2>&1 &
  echo $! >"$pid_file"
  wait_for_port "$port" 60 || die "moto_server did not start: see .local/moto-${2:-default}.log"
  echo "http://127.0.0.1:$port"
  ;;
stop)
  if [ -f "$pid_file" ]; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  fi
  ;;
esac
