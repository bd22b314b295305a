#!/usr/bin/env bash
# Offline checks of the deploy side (template.yaml, samconfig.toml); docs/deploy.md "Checks"
# says what each rule holds. Four steps, then every case of scripts/test_check_template.py (each
# rule of check_template.py seen to fire on a broken input): cfn-lint, sam validate --lint,
# scripts/check_template.py on the template, and on samconfig.toml. Ends with "deploy: N passed,
# M failed, 0 skipped"; it fails when a check fails or fewer cases ran than --list names.
#
# cfn-lint and aws-sam-cli are installed on first use into .local/deploy-venv (DEPLOY_VENV=<dir>),
# not .local/venv: aws-sam-cli pins boto3/botocore/click/pydantic to versions other than the ones
# moto_server runs with there. The venv is made from python3 (DEPLOY_PYTHON=<interpreter>), which
# must be Python 3.11 or newer (tomllib): an older one is an error, never a skipped check. No AWS
# account is needed: a fixed region and dummy credentials, so the developer's are never used.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
VENV="${DEPLOY_VENV:-$LOCAL_DIR/deploy-venv}"
PYTHON="${DEPLOY_PYTHON:-python3}"

# Prints the interpreter's version; succeeds only for Python 3.11+ (tomllib).
python_version_ok() {
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3]); sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

[ -f template.yaml ] || die "template.yaml not found in $ROOT"
if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
  command -v "$PYTHON" >/dev/null 2>&1 ||
    die "$PYTHON is required, Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"
  version=$(python_version_ok "$PYTHON") ||
    die "$PYTHON is Python ${version:-of unknown version}; the deploy checks need Python 3.11 or newer (tomllib). Install one and run with DEPLOY_PYTHON=<it>, e.g. DEPLOY_PYTHON=python3.12"
  say "installing cfn-lint and aws-sam-cli into ${VENV#"$ROOT"/} with Python $version (first run only)"
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1.20,<2' 'aws-sam-cli>=1.130,<2' ||
    die "pip install cfn-lint aws-sam-cli failed (is PyPI reachable?)"
fi
version=$(python_version_ok "$VENV/bin/python") ||
  die "the deploy venv ${VENV#"$ROOT"/} runs Python ${version:-of unknown version}; the deploy checks need Python 3.11 or newer (tomllib). Delete it (rm -rf ${VENV#"$ROOT"/}) and run again, with DEPLOY_PYTHON=<a Python 3.11+> if python3 is older"
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=check-deploy AWS_SECRET_ACCESS_KEY=check-deploy AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE

passed=0
failures=0
failed=()
# check NAME COMMAND...: runs one check and counts it.
check() {
  local name=$1
  shift
  say "$name"
  if "$@"; then passed=$((passed + 1)); else failures=$((failures + 1)) failed+=("$name"); fi
}
check "cfn-lint $(cfn-lint --version 2>/dev/null | awk '{print $2}') template.yaml" \
  bash -c 'cfn-lint template.yaml && echo "cfn-lint: no findings"'
check "sam validate --lint ($(sam --version 2>/dev/null))" sam validate --lint --template template.yaml
check "template policy (scripts/check_template.py)" "$PY" scripts/check_template.py --template template.yaml
check "samconfig.toml (scripts/check_template.py --samconfig)" \
  "$PY" scripts/check_template.py --samconfig samconfig.toml --template template.yaml

say "each rule fires on a broken input (scripts/test_check_template.py)"
listed=$("$PY" scripts/test_check_template.py --list) || die "scripts/test_check_template.py --list failed"
listed=$(grep -c . <<<"$listed" || true)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
"$PY" scripts/test_check_template.py | tee "$log" || rc=$?
summary=$(grep -E '^check_template rules: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
if [[ $summary =~ ^check_template\ rules:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  cases_failed=${BASH_REMATCH[2]}
  ran=$((BASH_REMATCH[1] + cases_failed))
else
  cases_failed=0 ran=0
fi
if [ "$cases_failed" -gt 0 ]; then
  failures=$((failures + cases_failed)) failed+=("$cases_failed rule case(s)")
elif [ "$rc" -ne 0 ] || [ -z "$summary" ]; then # stopped before its summary: never a silent pass
  failures=$((failures + 1)) failed+=("scripts/test_check_template.py (exit $rc)")
fi
if [ "$ran" -lt "$listed" ]; then failures=$((failures + 1)) failed+=("$ran cases ran of the $listed that --list names"); fi

# Listed: each check line of this file, and the cases.
record_suite deploy "$passed" "$failures" 0 "$(($(grep -c '^check ' "$ROOT/scripts/check-deploy.sh") + listed))"
[ "$failures" -eq 0 ] || die "deploy checks failed: $(printf '%s; ' "${failed[@]}" | sed 's/; $//')"
say "deploy checks passed in ${SECONDS}s"
