#!/usr/bin/env bash
# `make test` runs every suite; `scripts/test.sh SUITE...` some of them. In order:
#   static           cargo fmt --check, clippy (warnings are errors), no import cycle between
#                    files (scripts/check_imports.py), no script that names target/ itself
#   deploy           scripts/check-deploy.sh: cfn-lint, sam validate, the template policy
#   rust             cargo test --workspace
#   lambda-emulator  scripts/test-lambda-emulator.sh: every function under cargo lambda
#   openapi          scripts/test-openapi.sh: openapi.yaml against the real server
#   dashboard        the dashboard in headless Chromium against `crypto-dashboard serve`, and
#                    its error state (dashboard-error-state) against a second server whose
#                    database is unreachable, with Node in the en-US locale the tests assume
# The suites from rust on get a throwaway PostgreSQL cluster (fsync off, TimeZone Asia/Kolkata;
# with DATABASE_URL set, that server instead) and moto_server as the Secrets Manager emulator,
# both stopped at the end whatever happens.
#
# A suite fails make test when it fails, skips or ignores a test, runs none, or runs fewer than
# it lists without running them: `cargo test -- --list`, the tests node collects from every
# test file in dashboard/tests, the cases of scripts/test_check_template.py --list and of the
# emulator script. Last, one line per suite ("summary: rust 200 passed") and the total, the line
# CI reads ("make test: 557 passed, 0 failed"). Logs of the last run: .local/make-test-last/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ALL=(static deploy rust lambda-emulator openapi dashboard)
if [ $# -gt 0 ]; then SUITES=("$@"); else SUITES=("${ALL[@]}"); fi
REPORTS=() # the suites that must report counts, in order
for suite in "${SUITES[@]}"; do
  case " ${ALL[*]} " in *" $suite "*) ;; *) die "unknown suite $suite (the suites: ${ALL[*]})" ;; esac
  [ "$suite" = static ] || REPORTS+=("$suite")
  [ "$suite" != dashboard ] || REPORTS+=(dashboard-error-state)
done

RUN_DIR=$(mktemp -d "$LOCAL_DIR/make-test.XXXXXX")
export TEST_SUMMARY_FILE="$RUN_DIR/summary" # record_suite adds "SUITE PASSED FAILED SKIPPED LISTED"
: >"$TEST_SUMMARY_FILE"
start=$(date +%s)
step="starting"
cluster="pg-test-$$"
started_pg=""
services=""

# The per-suite lines and the total; the exit status of make test.
finish() {
  local status=$1 suite line passed failed skipped listed ran total_passed=0 total_failed=0 problems=()
  trap - EXIT
  stop_background
  [ -z "$started_pg" ] || scripts/pg.sh destroy "$cluster" || true
  for suite in $(awk '{print $1}' "$TEST_SUMMARY_FILE"); do # and any other suite that reported
    case " ${REPORTS[*]} " in *" $suite "*) ;; *) REPORTS+=("$suite") ;; esac
  done
  for suite in "${REPORTS[@]}"; do
    line=$(awk -v s="$suite" '$1 == s { n++; p += $2; f += $3; k += $4; if ($5 != "-") { l += $5; listed = 1 } }
      END { if (n) print p, f, k, (listed ? l : "-") }' "$TEST_SUMMARY_FILE")
    if [ -z "$line" ]; then
      echo "summary: $suite did not run"
      [ "$status" -ne 0 ] || problems+=("$suite did not run") # else: the failure stopped it
      continue
    fi
    read -r passed failed skipped listed <<<"$line"
    ran=$((passed + failed + skipped))
    line="summary: $suite $passed passed"
    [ "$failed" -eq 0 ] || { line+=", $failed failed"; problems+=("$suite: $failed failed"); }
    [ "$skipped" -eq 0 ] || { line+=", $skipped skipped or ignored"; problems+=("$suite: $skipped skipped or ignored"); }
    [ "$ran" -gt 0 ] || problems+=("$suite ran no test")
    if [ "$listed" != - ] && [ "$ran" -lt "$listed" ]; then
      line+=" (of $listed listed)"
      problems+=("$suite ran $ran of the $listed tests it lists")
    fi
    echo "$line"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed + skipped))
  done
  rm -rf "$LOCAL_DIR/make-test-last"
  mv "$RUN_DIR" "$LOCAL_DIR/make-test-last" 2>/dev/null || true
  if [ "$status" -eq 0 ] && [ ${#problems[@]} -eq 0 ]; then
    say "make test passed in $(($(date +%s) - start))s"
  else
    # A step that stopped make test without a count of its own (fmt, clippy, a script's setup)
    # still counts as one failure.
    [ "$total_failed" -gt 0 ] || total_failed=$((${#problems[@]} > 0 ? ${#problems[@]} : 1))
    [ "$status" -eq 0 ] || say "make test failed during: $step (exit code $status)"
    for line in "${problems[@]}"; do say "make test failed: $line"; done
    [ "$status" -ne 0 ] || status=1
  fi
  echo "make test: $total_passed passed, $total_failed failed"
  exit "$status"
}
trap 'finish $?' EXIT
trap 'exit 130' INT TERM

# PostgreSQL (unless DATABASE_URL is set) and moto_server, once, for the suites that need them.
services_up() {
  [ -z "$services" ] || return 0
  services=1
  if [ -z "${DATABASE_URL:-}" ]; then
    say "starting a throwaway PostgreSQL cluster"
    started_pg=1
    DATABASE_URL=$(scripts/pg.sh start "$cluster" --fast)
    export DATABASE_URL
  else
    say "using DATABASE_URL from the environment"
  fi
  say "starting moto_server (Secrets Manager emulator)"
  ensure_tool moto_server 'moto[server]>=5,<6'
  local port
  port=$(free_port)
  background "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$RUN_DIR/moto.log" 2>&1
  wait_for_port "$port" 60 || die "moto_server did not start: see .local/make-test-last/moto.log"
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
}

suite_static() {
  say "cargo fmt --check"
  cargo fmt --all --check
  say "cargo clippy (warnings are errors)"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  say "no import cycle between files (scripts/check_imports.py)"
  python3 scripts/check_imports.py
  say "scripts find build outputs where cargo puts them (target_dir in scripts/lib.sh)"
  if grep -nE '(^|[^[:alnum:]_./-])target/(debug|release|lambda)' scripts/*.sh scripts/*.py |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#'; then
    die "a script names target/ itself; use \$(target_dir) so CARGO_TARGET_DIR and build.target-dir work"
  fi
}

suite_deploy() { scripts/check-deploy.sh; }
suite_lambda_emulator() { scripts/test-lambda-emulator.sh; }
suite_openapi() { scripts/test-openapi.sh; }

# Every test the test binaries list must pass: an ignored, filtered-out or unrun one fails.
suite_rust() {
  local rc=0 passed failed skipped listed results
  say "cargo test"
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$RUN_DIR/cargo-test.log" || rc=$?
  cargo test --workspace --locked --quiet -- --list >"$RUN_DIR/cargo-list.log" 2>&1 ||
    die "cargo test -- --list failed: see .local/make-test-last/cargo-list.log"
  read -r passed failed skipped listed results < <(python3 - "$RUN_DIR"/cargo-{test,list}.log <<'PY'
import collections, re, sys
ran, listing = (open(path, errors="replace").read() for path in sys.argv[1:])
results = re.findall(r"^test result: .*$", ran, re.M)
totals = collections.Counter()
for count, what in re.findall(r"(\d+) (passed|failed|ignored|filtered out)", "\n".join(results)):
    totals[what] += int(count)
listed = collections.Counter(re.findall(r"^(.+): test$", listing, re.M))
for name in sorted(listed - collections.Counter(re.findall(r"^test (.+) \.\.\. ok$", ran, re.M)))[:20]:
    print(f"listed, did not pass: {name}", file=sys.stderr)
print(totals["passed"], totals["failed"], totals["ignored"] + totals["filtered out"], sum(listed.values()), len(results))
PY
  )
  record_suite rust "$passed" "$failed" "$skipped" "$listed"
  [ "$rc" -eq 0 ] || die "cargo test failed (exit code $rc; output in .local/make-test-last/cargo-test.log)"
  [ "$results" -gt 0 ] || die "cargo test printed no \"test result:\" line"
}

# node_tests SUITE BASE_URL FILES...: one `node --test` run (spec output on the terminal, TAP in
# the logs), recorded from the TAP summary: skipped and todo tests count as skipped, cancelled
# ones as failed, and every test node collected is listed.
node_tests() {
  local suite=$1 base_url=$2 tap="$RUN_DIR/$1.tap" rc=0
  shift 2
  (cd dashboard && LC_ALL=en_US.UTF-8 LANG=en_US.UTF-8 DASHBOARD_BASE_URL="$base_url" \
    node --test --test-timeout=120000 --test-concurrency=1 \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" "$@") || rc=$?
  record_suite "$suite" $(awk '/^# (tests|pass|fail|cancelled|skipped|todo) [0-9]+$/ { n[$2] = $3 }
    END { printf "%d %d %d %d", n["pass"], n["fail"] + n["cancelled"], n["skipped"] + n["todo"], n["tests"] }' "$tap" 2>/dev/null || echo 0 0 0 0)
  [ "$rc" -eq 0 ] || die "$suite: node --test exited with $rc (TAP output: .local/make-test-last/$suite.tap)"
}

suite_dashboard() {
  local bin port file files=()
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || apt_install chromium "or set CHROMIUM_PATH"
  build_dashboard
  cargo build --quiet --bin crypto-dashboard
  bin="$(target_dir)/debug/crypto-dashboard"
  DATABASE_URL=$(fresh_database dashboard_e2e)
  # A few hundred coins, so that the table has pages; the original's eleven are among them.
  export DATABASE_URL TRACKED_COINS="top:300,$ORIGINAL_COINS"
  simulated_ingestion "$bin"
  port=$(free_port)
  background "$bin" serve --port "$port" 2>"$RUN_DIR/dashboard-serve.log"
  wait_for_port "$port" 30 || die "serve did not start: see .local/make-test-last/dashboard-serve.log"
  serve_without_database "$bin"
  # Every file that declares tests runs: the error state against the server whose database is
  # down, every other one against the working server.
  for file in dashboard/tests/*.mjs; do
    if grep -qE "^import \{[^}]*\btest\b[^}]*\} from 'node:test'" "$file" && [ "${file##*/}" != e2e-error-state.mjs ]; then
      files+=("tests/${file##*/}")
    fi
  done
  say "browser tests against http://127.0.0.1:$port: ${files[*]}"
  node_tests dashboard "http://127.0.0.1:$port" "${files[@]}"
  say "error state against a server whose database is down (http://127.0.0.1:$DOWN_PORT)"
  node_tests dashboard-error-state "http://127.0.0.1:$DOWN_PORT" tests/e2e-error-state.mjs
}

for suite in "${SUITES[@]}"; do
  step=$suite
  case $suite in static | deploy) ;; *) services_up ;; esac
  # A subshell each: a suite's databases, servers and exports end with it.
  (
    BACKGROUND_PIDS=()
    trap stop_background EXIT
    "suite_${suite//-/_}"
  )
done
step="done"
