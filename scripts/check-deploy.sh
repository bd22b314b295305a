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
#                                                   origin verification, the API cache key, read-only
#                                                   egress, the RDS log group, the connection budget)
#  4. samconfig.toml parses, names the stack, builds in parallel, lints, sets no profile and
#     gives defaults for the environment, CoinGecko plan, alarm e-mail, RDS Proxy and WAF
#
# cfn-lint and aws-sam-cli are installed on first use into .local/deploy-venv (git-ignored). It is
# a venv of its own, not .local/venv: aws-sam-cli pins boto3/botocore/click/pydantic to versions
# other than the ones moto_server (used by `make test` from .local/venv) runs with, and installing
# it there would change a running test's emulator underneath it. Override with DEPLOY_VENV=<dir>.
#
# No AWS account is needed: the checks run with a fixed region and dummy credentials, so they
# never use (or depend on) the developer's real ones. `sam build` is not run here (it compiles
# every function); see docs/deploy.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${DEPLOY_VENV:-$ROOT/.local/deploy-venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ -f template.yaml ] || die "template.yaml not found in $ROOT"
command -v python3 >/dev/null 2>&1 || die "python3 is required (Debian: apt-get install python3 python3-venv)"

if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
  say "installing cfn-lint and aws-sam-cli into ${VENV#"$ROOT"/} (first run only)"
  python3 -m venv "$VENV" ||
    die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1.20,<2' 'aws-sam-cli>=1.130,<2' ||
    die "pip install cfn-lint aws-sam-cli failed (is PyPI reachable?)"
fi
export PATH="$VENV/bin:$PATH"

# Deterministic and offline-safe: no telemetry, a fixed region, dummy credentials, no IMDS.
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=check-deploy AWS_SECRET_ACCESS_KEY=check-deploy
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

failed=()

say "cfn-lint $(cfn-lint --version 2>/dev/null | awk '{print $2}') template.yaml"
if cfn-lint template.yaml; then
  echo "cfn-lint: no findings"
else
  failed+=("cfn-lint")
fi

say "sam validate --lint ($(sam --version 2>/dev/null))"
if ! sam validate --lint --template template.yaml; then
  failed+=("sam validate --lint")
fi

say "template policy checks (scripts/check_template.py)"
if ! python "$ROOT/scripts/check_template.py" --template template.yaml; then
  failed+=("scripts/check_template.py")
fi

say "samconfig.toml"
if python - <<'PY'
import re
import sys
try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:
    print("warning: Python < 3.11 has no tomllib; samconfig.toml not checked", file=sys.stderr)
    sys.exit(0)
try:
    with open("samconfig.toml", "rb") as f:
        cfg = tomllib.load(f)
except FileNotFoundError:
    sys.exit("error: samconfig.toml not found")
except tomllib.TOMLDecodeError as e:
    sys.exit(f"error: samconfig.toml does not parse: {e}")
params = cfg.get("default", {}).get("global", {}).get("parameters", {})
deploy = cfg.get("default", {}).get("deploy", {}).get("parameters", {})
problems = []
if params.get("stack_name") != "crypto-dashboard":
    problems.append("default.global.parameters.stack_name must be crypto-dashboard")
if "CAPABILITY_IAM" not in str(deploy.get("capabilities", "")):
    problems.append("default.deploy.parameters.capabilities must include CAPABILITY_IAM")
if deploy.get("resolve_s3") is not True:
    problems.append("default.deploy.parameters.resolve_s3 must be true")
build = cfg.get("default", {}).get("build", {}).get("parameters", {})
if build.get("parallel") is not True:
    problems.append("default.build.parameters.parallel must be true")
if cfg.get("default", {}).get("validate", {}).get("parameters", {}).get("lint") is not True:
    problems.append("default.validate.parameters.lint must be true")
# Portable: no named AWS profile (each user's credentials chain decides).
for env, commands in cfg.items():
    if not isinstance(commands, dict):
        continue
    for command, section in commands.items():
        if isinstance(section, dict) and "profile" in section.get("parameters", {}):
            problems.append(f"{env}.{command}.parameters sets a profile")
overrides = dict(re.findall(r'(\w+)=("[^"]*"|\S*)', str(deploy.get("parameter_overrides", ""))))
for key in ("EnvironmentName", "CoinGeckoApiPlan", "AlarmEmail", "EnableRdsProxy", "EnableWaf"):
    if key not in overrides:
        problems.append(f"default.deploy.parameters.parameter_overrides must set {key}")
template = open("template.yaml", encoding="utf-8").read()
section = re.search(r"^Parameters:\n(.*?)^\S", template, re.M | re.S)
declared = set(re.findall(r"^  (\w+):", section.group(1), re.M)) if section else set()
for key in overrides:
    if key not in declared:
        problems.append(f"parameter_overrides sets {key}, which template.yaml does not declare")
for p in problems:
    print(f"error: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print("samconfig.toml: OK")
PY
then :; else
  failed+=("samconfig.toml")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'error: deploy checks failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
say "deploy checks passed"
