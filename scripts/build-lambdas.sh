#!/usr/bin/env bash
# `make build-lambdas`: every function as an arm64 Lambda zip (provided.al2023), with
# cargo-lambda (and its zig) from PyPI in .local/venv. Prints each zip's size against the
# targets: at most 4 MB, or 6 MB for the two that link the CoinGecko client (ingest,
# live-quotes). Output: <cargo target dir>/lambda/<name>/bootstrap.zip
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_tool cargo-lambda cargo-lambda
export PATH="$VENV/bin:$PATH" # cargo-lambda finds zig here
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
  say "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu >&2
fi

functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done
say "cargo lambda build --release --arm64 --output-format zip (${#functions[@]} functions)"
cargo lambda build --release --arm64 --output-format zip $(printf -- '--bin %s ' "${functions[@]}") >&2

status=0
printf '%-16s %10s %10s\n' function "zip KiB" "target KiB"
lambda_dir="$(target_dir)/lambda"
for name in "${functions[@]}"; do
  zip="$lambda_dir/$name/bootstrap.zip"
  [ -f "$zip" ] || die "missing $zip"
  size=$(stat -c %s "$zip")
  limit=$((4 * 1024 * 1024))
  case "$name" in ingest | live-quotes) limit=$((6 * 1024 * 1024)) ;; esac
  mark=""
  if [ "$size" -gt "$limit" ]; then mark="  OVER"; status=1; fi
  printf '%-16s %10d %10d%s\n' "$name" $((size / 1024)) $((limit / 1024)) "$mark"
done
exit $status
