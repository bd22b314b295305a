#!/usr/bin/env bash
# Offline checks of the deploy side: template.yaml and samconfig.toml.
#
#   scripts/check-deploy.sh
#
#  1. cfn-lint template.yaml                      (CloudFormation schemas, SAM transform included)
#  2. sam validate --lint --template template.yaml (SAM's own validation + cfn-lint)
#  3. scripts/check_template.py                   (our rules: no IAM wildcards, every function
#                                                   arm64/provided.al2023/rust-cargolambda, every
#                                                   SPEC route present, ingest/migrate/RDS settings,
#                                                   schedules without Input, the live-quotes function's
#                                                   own concurrency, retries and failure alarm,
#                                                   origin verification, the API cache key, read-only
#                                                   egress, the RDS log group, the connection budget,
#                                                   each function's egress path in every EgressMode,
#                                                   the private database, the fixed monthly cost
#                                                   against docs/deploy.md "Costs")
#  4. scripts/check_template.py --samconfig samconfig.toml: it parses, names the stack, builds in
#     parallel, lints, sets no profile and gives defaults for the environment, CoinGecko plan,
#     alarm e-mail, RDS Proxy and WAF, each a parameter of the template and within its allowed values
#  5. scripts/test_check_template.py: every rule of 3 and 4 run against a deliberately broken copy
#     of its input, so each is seen to fire (one line per case)
# and ends with "deploy checks: N passed, M failed" (N counts steps 1-4 and the cases of 5).
#
# cfn-lint and aws-sam-cli are installed on first use into .local/deploy-venv (git-ignored). It is
# a venv of its own, not .local/venv: aws-sam-cli pins boto3/botocore/click/pydantic to versions
# other than the ones moto_server (used by `make test` from .local/venv) runs with, and installing
# it there would change a running test's emulator underneath it. Override with DEPLOY_VENV=<dir>.
# The venv is made from python3 (DEPLOY_PYTHON=<interpreter> to pick another), which must be
# Python 3.11 or newer: the TOML checks use tomllib. An older one is an error, never a skipped
# check; so is an existing venv made from one (delete it and run again).
#
# No AWS account is needed: the checks run with a fixed region and dummy credentials, so they
# never use (or depend on) the developer's real ones. `sam build` is not run here (it compiles
# every function); see docs/deploy.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${DEPLOY_VENV:-$ROOT/.local/deploy-venv}"
PYTHON="${DEPLOY_PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

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
  "$PYTHON" -m venv "$VENV" ||
    die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1.20,<2' 'aws-sam-cli>=1.130,<2' ||
    die "pip install cfn-lint aws-sam-cli failed (is PyPI reachable?)"
fi
version=$(python_version_ok "$VENV/bin/python") ||
  die "the deploy venv ${VENV#"$ROOT"/} runs Python ${version:-of unknown version}; the deploy checks need Python 3.11 or newer (tomllib). Delete it (rm -rf ${VENV#"$ROOT"/}) and run again, with DEPLOY_PYTHON=<a Python 3.11+> if python3 is older"
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"

# Deterministic and offline-safe: no telemetry, a fixed region, dummy credentials, no IMDS.
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=check-deploy AWS_SECRET_ACCESS_KEY=check-deploy
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

passed=0
failures=0
failed=()
# step NAME COMMAND...: runs one check and counts it.
step() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    failed+=("$name")
  fi
}

say "cfn-lint $(cfn-lint --version 2>/dev/null | awk '{print $2}') template.yaml"
lint() { cfn-lint template.yaml && echo "cfn-lint: no findings"; }
step "cfn-lint" lint

say "sam validate --lint ($(sam --version 2>/dev/null))"
step "sam validate --lint" sam validate --lint --template template.yaml

say "template policy checks (scripts/check_template.py)"
step "scripts/check_template.py" "$PY" scripts/check_template.py --template template.yaml

say "samconfig.toml (scripts/check_template.py --samconfig)"
step "samconfig.toml" "$PY" scripts/check_template.py --samconfig samconfig.toml --template template.yaml

say "each rule fires on a broken input (scripts/test_check_template.py)"
cases_out=$(mktemp)
trap 'rm -f "$cases_out"' EXIT
set +e
"$PY" scripts/test_check_template.py | tee "$cases_out"
cases_rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^check_template rules: [0-9]+ passed, [0-9]+ failed$' "$cases_out" | tail -n 1 || true)
if [[ $summary =~ ^check_template\ rules:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  case_failures=${BASH_REMATCH[2]}
else
  case_failures=0
fi
if [ "$case_failures" -gt 0 ]; then
  failures=$((failures + case_failures))
  failed+=("$case_failures rule case(s)")
elif [ "$cases_rc" -ne 0 ] || [ -z "$summary" ]; then
  # Stopped before its summary (or disagrees with it): one failure, never a silent pass.
  failures=$((failures + 1))
  failed+=("scripts/test_check_template.py (exit $cases_rc)")
fi

echo "deploy checks: $passed passed, $failures failed"
if [ "$failures" -gt 0 ]; then
  printf 'error: deploy checks failed: %s\n' "$(printf '%s; ' "${failed[@]}" | sed 's/; $//')" >&2
  exit 1
fi
say "deploy checks passed in ${SECONDS}s"
