#!/usr/bin/env python3
"""Project-specific checks of template.yaml that cfn-lint and `sam validate` do not make.

Run by scripts/check-deploy.sh with the venv that holds cfn-lint (its YAML loader understands
!Ref/!GetAtt/!Sub) and aws-sam-translator (to check the IAM roles SAM generates).

    python scripts/check_template.py [template.yaml]

Fails (exit 1, one "error:" line per finding) when:
  - an IAM policy statement that allows something uses Action "*", a service wildcard
    ("s3:*", "s3:Get*"), NotAction or NotResource, or Resource "*" (Deny statements may use
    wildcards: they only widen what is refused);
  - a role uses a managed policy other than the Lambda basic/VPC execution roles, or two
    functions share a role;
  - a function is not provided.al2023 / arm64 / Handler bootstrap / BuildMethod
    rust-cargolambda with BuildProperties.Binary, or a crate of the list is missing or doubled;
  - an HTTP route of the SPEC is missing, extra, or wired to the wrong binary;
  - the ingest function lost its schedule, reserved concurrency 1, timeout, or DLQ destination;
  - a function connects with another database role than its own (owner: migrate only;
    dashboard_writer: ingest; dashboard_reader: every other function), or may read the owner
    secret without being the migrate function;
  - the migrations custom resource, the database settings, log retention or the cron
    authentication metric filter are not what docs/deploy.md promises.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path

# Binary name -> (method, path) of its HTTP API route, or None for non-HTTP functions.
EXPECTED_FUNCTIONS = {
    "health": ("GET", "/api/health"),
    "coins-list": ("GET", "/api/coins"),
    "coin-detail": ("GET", "/api/coins/{id}"),
    "currencies": ("GET", "/api/currencies"),
    "prices": ("GET", "/api/coins/{id}/prices"),
    "market": ("GET", "/api/market"),
    "cron-trigger": ("POST", "/api/cron/fetch-data"),
    "ingestion-runs": ("GET", "/api/ingestion/runs"),
    "ingest": None,
    "migrate": None,
}
# Managed policies a function role may carry (SAM adds the basic one to every role it makes).
ALLOWED_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
}
# Binary -> the secret (logical id) of the database role it connects as; every other
# function uses the read-only role.
DATABASE_ROLE_SECRETS = {"migrate": "DatabaseSecret", "ingest": "DatabaseWriterSecret"}
READ_ONLY_SECRET = "DatabaseReaderSecret"
OWNER_SECRET = "DatabaseSecret"
INGEST_SCHEDULE = "cron(0 2 * * ? *)"
CRON_AUTH_PHRASE = "cron authentication failed"

errors: list[str] = []


def error(msg: str) -> None:
    errors.append(msg)


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def plain(obj):
    """cfn-lint's decoded nodes (str/dict/list subclasses) as plain JSON values."""
    return json.loads(json.dumps(obj, default=str))


def load_template(path: Path) -> dict:
    try:
        from cfnlint.decode import decode
    except ImportError:
        sys.exit("error: cfn-lint is not importable; run scripts/check-deploy.sh (it installs it)")
    template, matches = decode(str(path))
    if matches:
        for m in matches:
            error(f"{path}: cannot parse: {m}")
        return {}
    return plain(template)


# --- IAM --------------------------------------------------------------------------------------

def walk_statements(node, where: str):
    """Yields (location, statement) for every policy statement anywhere in node."""
    if isinstance(node, dict):
        stmts = node.get("Statement")
        if isinstance(stmts, (list, dict)) and all(isinstance(s, dict) for s in as_list(stmts)):
            for i, stmt in enumerate(as_list(stmts)):
                yield f"{where}.Statement[{i}]", stmt
        for key, value in node.items():
            if key != "Statement":
                yield from walk_statements(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_statements(value, f"{where}[{i}]")


def check_statement(where: str, stmt: dict) -> None:
    if stmt.get("Effect") == "Deny":
        return
    if "NotAction" in stmt:
        error(f"{where}: Allow with NotAction grants everything else; list the actions")
    if "NotResource" in stmt:
        error(f"{where}: Allow with NotResource; list the resources")
    for action in as_list(stmt.get("Action")):
        if not isinstance(action, str):
            error(f"{where}: Action must be a literal string, got {action!r}")
        elif action == "*" or "*" in action.split(":", 1)[-1] or ":" not in action:
            error(f"{where}: wildcard action {action!r}; name the exact actions")
    for resource in as_list(stmt.get("Resource")):
        if resource == "*":
            error(f"{where}: Resource '*'; scope it to the ARNs it needs")
    principal = stmt.get("Principal")
    if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))):
        error(f"{where}: Allow to Principal '*' (public); name the principal")


def check_iam(raw: dict, translated: dict | None) -> None:
    for where, stmt in walk_statements(raw.get("Resources", {}), "Resources"):
        check_statement(where, stmt)
    if translated is None:
        return
    # The roles SAM generates (from Policies, EventInvokeConfig destinations, ...).
    resources = translated.get("Resources", {})
    for name, res in resources.items():
        if res.get("Type") != "AWS::IAM::Role":
            continue
        for where, stmt in walk_statements(res.get("Properties", {}).get("Policies", []),
                                           f"(generated) {name}.Policies"):
            check_statement(where, stmt)
        for arn in as_list(res.get("Properties", {}).get("ManagedPolicyArns")):
            text = json.dumps(arn)
            if not any(re.search(rf"[/:]{p}\"", text) for p in ALLOWED_MANAGED_POLICIES):
                error(f"(generated) {name}: managed policy {text} is not one of "
                      f"{sorted(ALLOWED_MANAGED_POLICIES)}")
    roles: dict[str, str] = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::Lambda::Function":
            continue
        role_ref = res.get("Properties", {}).get("Role")
        role = json.dumps(role_ref, sort_keys=True)
        if role in roles:
            error(f"functions {roles[role]} and {name} share a role; give each its own")
        roles[role] = name
        # In a VPC the role needs ENI permissions (and logs): the managed VPC execution role.
        role_id = role_ref.get("Fn::GetAtt", [None])[0] if isinstance(role_ref, dict) else None
        managed = json.dumps(resources.get(role_id, {}).get("Properties", {}).get("ManagedPolicyArns"))
        if res.get("Properties", {}).get("VpcConfig") and "AWSLambdaVPCAccessExecutionRole" not in managed:
            error(f"{name}: in a VPC but its role lacks AWSLambdaVPCAccessExecutionRole")


def translate(raw: dict) -> dict | None:
    """The template after the SAM transform (local, no AWS calls), or None with an error."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:
        error("aws-sam-translator is not importable (it comes with cfn-lint)")
        return None
    template = copy.deepcopy(raw)
    for res in template.get("Resources", {}).values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/key"
        elif res.get("Type") == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/key"
    params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()
              if "Default" in v}

    class NoManagedPolicyLookups:  # only ARNs are used, so no IAM calls are needed
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        return plain(transform(template, params, NoManagedPolicyLookups()))
    except Exception as exc:  # noqa: BLE001 - any translator failure is a finding
        error(f"SAM transform failed: {exc}")
        return None


# --- functions and routes ---------------------------------------------------------------------

def effective(props: dict, globals_fn: dict, key: str):
    return props.get(key, globals_fn.get(key))


def check_functions(raw: dict) -> dict[str, tuple[str, dict]]:
    """Checks build settings; returns binary -> (logical id, resource)."""
    globals_fn = raw.get("Globals", {}).get("Function", {})
    by_binary: dict[str, tuple[str, dict]] = {}
    for name, res in raw.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        meta = res.get("Metadata", {})
        if effective(props, globals_fn, "Runtime") != "provided.al2023":
            error(f"{name}: Runtime must be provided.al2023")
        if effective(props, globals_fn, "Architectures") != ["arm64"]:
            error(f"{name}: Architectures must be [arm64]")
        if effective(props, globals_fn, "Handler") != "bootstrap":
            error(f"{name}: Handler must be bootstrap")
        if meta.get("BuildMethod") != "rust-cargolambda":
            error(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        if effective(props, globals_fn, "CodeUri") != ".":
            error(f"{name}: CodeUri must be . (the workspace root; Binary picks the crate)")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary:
            error(f"{name}: Metadata.BuildProperties.Binary is missing")
            continue
        if binary not in EXPECTED_FUNCTIONS:
            error(f"{name}: unexpected binary {binary!r}")
        if binary in by_binary:
            error(f"{name} and {by_binary[binary][0]} both build {binary!r}")
        by_binary[binary] = (name, res)
        log_group = props.get("LoggingConfig", {}).get("LogGroup")
        target = raw["Resources"].get(log_group.get("Ref"), {}) if isinstance(log_group, dict) else {}
        if target.get("Type") != "AWS::Logs::LogGroup" or "RetentionInDays" not in target.get("Properties", {}):
            error(f"{name}: LoggingConfig.LogGroup must Ref a log group with RetentionInDays")
    for binary in EXPECTED_FUNCTIONS:
        if binary not in by_binary:
            error(f"no function builds the {binary!r} binary")
    return by_binary


def check_routes(by_binary: dict[str, tuple[str, dict]]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for binary, (name, res) in by_binary.items():
        for ev_name, ev in res.get("Properties", {}).get("Events", {}).items():
            if ev.get("Type") != "HttpApi":
                continue
            p = ev.get("Properties", {})
            route = (str(p.get("Method", "")).upper(), p.get("Path", ""))
            if route in seen:
                error(f"route {route[0]} {route[1]} is declared twice ({seen[route]}, {name})")
            seen[route] = binary
            if p.get("ApiId") != {"Ref": "Api"}:
                error(f"{name}.Events.{ev_name}: ApiId must be !Ref Api (the throttled, logged API)")
            if str(p.get("PayloadFormatVersion", "2.0")) != "2.0":
                error(f"{name}.Events.{ev_name}: PayloadFormatVersion must be 2.0")
    for binary, route in EXPECTED_FUNCTIONS.items():
        if route is None:
            continue
        if route not in seen:
            error(f"route {route[0]} {route[1]} (function {binary}) is missing")
        elif seen[route] != binary:
            error(f"route {route[0]} {route[1]} goes to {seen[route]}, expected {binary}")
    for route, binary in seen.items():
        if route not in {r for r in EXPECTED_FUNCTIONS.values() if r}:
            error(f"unexpected route {route[0]} {route[1]} ({binary}); add it to SPEC and this list")


# --- specific resources -----------------------------------------------------------------------

def check_ingest(by_binary) -> None:
    if "ingest" not in by_binary:
        return
    name, res = by_binary["ingest"]
    props = res["Properties"]
    schedules = [e for e in props.get("Events", {}).values()
                 if e.get("Type") in ("Schedule", "ScheduleV2")]
    if not any(e.get("Properties", {}).get("Schedule",
               e.get("Properties", {}).get("ScheduleExpression")) == INGEST_SCHEDULE
               for e in schedules):
        error(f"{name}: needs an EventBridge schedule {INGEST_SCHEDULE}")
    if props.get("ReservedConcurrentExecutions") != 1:
        error(f"{name}: ReservedConcurrentExecutions must be 1 (one run at a time)")
    if props.get("Timeout") != 900:
        error(f"{name}: Timeout must be 900")
    on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
    if on_failure.get("Type") != "SQS":
        error(f"{name}: EventInvokeConfig needs an OnFailure SQS destination (the DLQ)")


def check_migrations(raw: dict, by_binary) -> None:
    if "migrate" not in by_binary:
        return
    migrate = by_binary["migrate"][0]
    found = False
    for name, res in raw.get("Resources", {}).items():
        if res.get("Type") not in ("AWS::CloudFormation::CustomResource",) and not str(
                res.get("Type", "")).startswith("Custom::"):
            continue
        token = json.dumps(res.get("Properties", {}).get("ServiceToken"))
        if migrate not in token:
            continue
        found = True
        if "Database" not in as_list(res.get("DependsOn")):
            error(f"{name}: must DependsOn the Database instance")
        if "DeployId" not in res.get("Properties", {}):
            error(f"{name}: needs a DeployId property so every deploy runs migrations")
    if not found:
        error(f"no custom resource invokes {migrate} (migrations on deploy)")


def check_database_roles(by_binary) -> None:
    """Least privilege in the database: each function logs in as its own role."""
    for binary, (name, res) in by_binary.items():
        props = res.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        expected = DATABASE_ROLE_SECRETS.get(binary, READ_ONLY_SECRET)
        if variables.get("DATABASE_SECRET_ARN") != {"Ref": expected}:
            error(f"{name}: DATABASE_SECRET_ARN must be !Ref {expected}")
        if binary != "migrate" and {"Ref": OWNER_SECRET} in walk_refs(props.get("Policies")):
            error(f"{name}: only the migrate function may read {OWNER_SECRET} (the owner)")


def walk_refs(node):
    """Every {"Ref": ...} inside node."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            yield node
        for value in node.values():
            yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def check_database(raw: dict) -> None:
    dbs = {n: r for n, r in raw.get("Resources", {}).items() if r.get("Type") == "AWS::RDS::DBInstance"}
    if not dbs:
        error("no AWS::RDS::DBInstance")
    for name, res in dbs.items():
        p = res.get("Properties", {})
        if p.get("Engine") != "postgres":
            error(f"{name}: Engine must be postgres")
        if p.get("StorageEncrypted") is not True:
            error(f"{name}: StorageEncrypted must be true")
        if p.get("DeletionProtection") is not True:
            error(f"{name}: DeletionProtection must be true")
        if p.get("PubliclyAccessible") is not False:
            error(f"{name}: PubliclyAccessible must be false")
        if not isinstance(p.get("BackupRetentionPeriod"), int) or p["BackupRetentionPeriod"] < 7:
            error(f"{name}: BackupRetentionPeriod must be at least 7")
        if res.get("DeletionPolicy") != "Snapshot" or res.get("UpdateReplacePolicy") != "Snapshot":
            error(f"{name}: DeletionPolicy and UpdateReplacePolicy must be Snapshot")


def check_cron_auth_filter(raw: dict) -> None:
    filters = [r for r in raw.get("Resources", {}).values() if r.get("Type") == "AWS::Logs::MetricFilter"]
    if not any(CRON_AUTH_PHRASE in str(f.get("Properties", {}).get("FilterPattern", "")) for f in filters):
        error(f'no metric filter matches the cron-trigger log phrase "{CRON_AUTH_PHRASE}"')


def check_crates(root: Path, by_binary: dict[str, tuple[str, dict]]) -> None:
    """Every crate under functions/ has exactly one template resource, and back."""
    declared = set()
    for manifest in root.glob("functions/*/Cargo.toml"):
        text = manifest.read_text(encoding="utf-8", errors="replace")
        declared.update(re.findall(r'^\s*name\s*=\s*"([^"]+)"', text, flags=re.M))
    for crate in sorted(declared - set(by_binary)):
        error(f"crate functions/{crate} has no template resource")
    for binary in sorted(set(by_binary) - declared):
        error(f"template resource {by_binary[binary][0]} builds {binary!r}, which no crate under functions/ defines")


def check_openapi(root: Path, by_binary: dict[str, tuple[str, dict]]) -> None:
    """The template's HTTP routes and openapi.yaml's operations are the same set."""
    path = root / "openapi.yaml"
    if not path.is_file():
        error("openapi.yaml is missing")
        return
    from cfnlint.decode import decode  # a YAML loader we already have; OpenAPI is plain YAML

    doc, matches = decode(str(path))
    if matches or not doc:
        error(f"openapi.yaml cannot be parsed: {matches}")
        return
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    documented = {(m.upper(), p) for p, item in plain(doc).get("paths", {}).items() for m in item if m in methods}
    routed = set()
    for name, res in by_binary.values():
        for ev in res.get("Properties", {}).get("Events", {}).values():
            if ev.get("Type") == "HttpApi":
                routed.add((str(ev["Properties"].get("Method", "")).upper(), ev["Properties"].get("Path", "")))
    for m, p in sorted(routed - documented):
        error(f"template route {m} {p} is not in openapi.yaml")
    for m, p in sorted(documented - routed):
        error(f"openapi.yaml operation {m} {p} has no template route")


def check_cloudfront(raw: dict) -> None:
    for name, res in raw.get("Resources", {}).items():
        if res.get("Type") != "AWS::CloudFront::Distribution":
            continue
        config = res.get("Properties", {}).get("DistributionConfig", {})
        default = config.get("DefaultCacheBehavior", {})
        if default.get("ViewerProtocolPolicy") != "redirect-to-https":
            error(f"{name}: the default behaviour must redirect HTTP to HTTPS")
        for b in config.get("CacheBehaviors", []):
            if b.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                error(f"{name}: behaviour {b.get('PathPattern')} must be HTTPS only")


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    if not path.is_file():
        print(f"error: {path} not found", file=sys.stderr)
        return 1
    raw = load_template(path)
    if raw:
        by_binary = check_functions(raw)
        check_routes(by_binary)
        check_ingest(by_binary)
        check_migrations(raw, by_binary)
        check_database_roles(by_binary)
        check_database(raw)
        check_cron_auth_filter(raw)
        check_iam(raw, translate(raw))
        check_crates(path.resolve().parent, by_binary)
        check_openapi(path.resolve().parent, by_binary)
        check_cloudfront(raw)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"check_template: {len(errors)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"check_template: {path} OK ({len(EXPECTED_FUNCTIONS)} functions, "
          f"{sum(1 for r in EXPECTED_FUNCTIONS.values() if r)} routes, IAM without wildcards)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
