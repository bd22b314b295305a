#!/usr/bin/env bash
# `make test`: formatting, lints and the deploy checks first (fast failures), then every test
# with a throwaway PostgreSQL and moto_server that are stopped afterwards, whatever happens:
# the Rust tests, the functions under a Lambda runtime emulator, the OpenAPI conformance and
# the dashboard in headless Chromium.
#
# Ends with one line per suite with the number of tests it ran ("summary: rust 215 passed"),
# and last the total, the line CI reads ("make test: 380 passed, 0 failed"). A suite that
# failed, skipped or ignored a test, did not run, or ran fewer tests than MIN_TESTS below fails
# make test. Logs of the last run: .local/make-test-last/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# The fewest tests each suite must run, in the order they run. Today's exact counts, except
# for the Rust suite, which grows with the code: a floor a little under today's count.
# Raise a number when you add tests; a suite that runs fewer fails.
SUITES=(deploy rust lambda-emulator openapi dashboard dashboard-error-state)
declare -A MIN_TESTS=(
  [deploy]=168
  [rust]=160
  [lambda-emulator]=23
  [openapi]=131
  [dashboard]=32
  [dashboard-error-state]=1
)

RUN_DIR=$(mktemp -d "$LOCAL_DIR/make-test.XXXXXX")
export TEST_SUMMARY_FILE="$RUN_DIR/summary" # scripts add "SUITE PASSED FAILED SKIPPED" lines
: >"$TEST_SUMMARY_FILE"
start=$(date +%s)
step="starting"

# The per-suite lines and the total; the exit status of make test.
finish() {
  local status=$1 suite passed failed skipped line total_passed=0 total_failed=0 problems=()
  declare -A got_passed=() got_failed=() got_skipped=()
  trap - EXIT
  while read -r suite passed failed skipped; do
    [ -n "$suite" ] || continue
    got_passed[$suite]=$(( ${got_passed[$suite]:-0} + passed ))
    got_failed[$suite]=$(( ${got_failed[$suite]:-0} + failed ))
    got_skipped[$suite]=$(( ${got_skipped[$suite]:-0} + skipped ))
  done <"$TEST_SUMMARY_FILE"
  # The suites in their order, then any other that reported.
  local order=("${SUITES[@]}")
  for suite in "${!got_passed[@]}"; do
    [[ " ${SUITES[*]} " == *" $suite "* ]] || order+=("$suite")
  done
  for suite in "${order[@]}"; do
    if [ -z "${got_passed[$suite]:-}" ]; then
      echo "summary: $suite did not run"
      [ "$status" -ne 0 ] || problems+=("$suite did not run") # else: the failure stopped it
      continue
    fi
    passed=${got_passed[$suite]} failed=${got_failed[$suite]} skipped=${got_skipped[$suite]}
    line="summary: $suite $passed passed"
    [ "$failed" -eq 0 ] || { line+=", $failed failed"; problems+=("$suite: $failed failed"); }
    [ "$skipped" -eq 0 ] || { line+=", $skipped skipped or ignored"; problems+=("$suite: $skipped skipped or ignored"); }
    if [ -n "${MIN_TESTS[$suite]:-}" ] && [ "$passed" -lt "${MIN_TESTS[$suite]}" ]; then
      line+=" (at least ${MIN_TESTS[$suite]} expected)"
      problems+=("$suite ran fewer tests than the ${MIN_TESTS[$suite]} expected")
    fi
    echo "$line"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed + skipped))
  done
  rm -rf "$LOCAL_DIR/make-test-last"
  mv "$RUN_DIR" "$LOCAL_DIR/make-test-last" 2>/dev/null || true
  if [ "$status" -eq 0 ] && [ ${#problems[@]} -eq 0 ]; then
    say "make test passed in $(( $(date +%s) - start ))s"
  else
    # A step that stopped make test without a count of its own (fmt, clippy, a script's setup)
    # still counts as one failure.
    [ "$status" -eq 0 ] || [ "$total_failed" -gt 0 ] || total_failed=1
    [ "$total_failed" -gt 0 ] || total_failed=${#problems[@]}
    [ "$status" -eq 0 ] || say "make test failed during: $step (exit code $status)"
    local problem
    for problem in "${problems[@]}"; do say "make test failed: $problem"; done
    [ "$status" -ne 0 ] || status=1
  fi
  echo "make test: $total_passed passed, $total_failed failed"
  exit "$status"
}
trap 'finish $?' EXIT

step="cargo fmt --check"
say "$step"
cargo fmt --all --check

step="cargo clippy"
say "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step="check_imports.py"
say "no import cycle between files (scripts/check_imports.py)"
python3 scripts/check_imports.py

step="build paths"
say "scripts find build outputs where cargo puts them (target_dir in scripts/lib.sh)"
if grep -nE '(^|[^[:alnum:]_./-])target/(debug|release|lambda)' scripts/*.sh scripts/*.py |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*#'; then
  die "a script names target/ itself; use \$(target_dir) so CARGO_TARGET_DIR and build.target-dir work"
fi

step="deploy checks"
say "deploy checks (cfn-lint, sam validate, template policy)"
scripts/check-deploy.sh 2>&1 | tee "$RUN_DIR/check-deploy.log"
# Its last line counts the checks: "deploy checks: N passed, M failed".
deploy_counts=$(sed -n 's/^deploy checks: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$RUN_DIR/check-deploy.log" | tail -n 1)
if [ -n "$deploy_counts" ]; then
  read -r deploy_passed deploy_failed <<<"$deploy_counts"
  record_suite deploy "$deploy_passed" "$deploy_failed" >/dev/null
fi

step="the test suites"
RUN_DIR=$RUN_DIR scripts/with-test-services.sh bash -c '
  set -euo pipefail
  source scripts/lib.sh
  say "cargo test"
  # Every "test result:" line of cargo test is summed into the rust suite: ignored or filtered
  # tests count as skipped, which fails make test.
  rc=0
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$RUN_DIR/cargo-test.log" || rc=$?
  read -r passed failed skipped results < <(python3 - "$RUN_DIR/cargo-test.log" <<"PY"
import re, sys
totals = {"passed": 0, "failed": 0, "ignored": 0, "filtered out": 0}
results = 0
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("test result: "):
        results += 1
        for count, what in re.findall(r"(\d+) (passed|failed|ignored|filtered out)", line):
            totals[what] += int(count)
print(totals["passed"], totals["failed"], totals["ignored"] + totals["filtered out"], results)
PY
  )
  record_suite rust "$passed" "$failed" "$skipped"
  [ "$rc" -eq 0 ] || die "cargo test failed (exit code $rc; output in .local/make-test-last/cargo-test.log)"
  [ "$results" -gt 0 ] || die "cargo test printed no \"test result:\" line"

  say "functions under the Lambda runtime emulator"
  scripts/test-lambda-emulator.sh
  say "OpenAPI conformance"
  scripts/test-openapi.sh
  say "dashboard in headless Chromium"
  scripts/test-dashboard.sh
'
step="done"
