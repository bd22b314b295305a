#!/usr/bin/env python3
"""Project-specific checks of template.yaml that cfn-lint and `sam validate` do not make.

Run by scripts/check-deploy.sh with the venv that holds cfn-lint (its YAML loader understands
!Ref/!GetAtt/!Sub) and aws-sam-translator (SAM's Globals merge, and the IAM roles SAM generates).

    python scripts/check_template.py [--template PATH] [--root DIR] [PATH]
    python scripts/check_template.py --samconfig FILE [--template PATH]

PATH (or --template) defaults to template.yaml; DIR (the checkout whose functions/, openapi.yaml
and docs/deploy.md the template is compared with) defaults to this script's repository. With
--samconfig only FILE is checked, against the parameters the template declares. Needs Python
3.11+ (tomllib); an older one is an error, not a skipped check. Each function is checked as SAM
merges it with Globals.Function. scripts/test_check_template.py makes every rule below fire on a
deliberately broken copy of the template, samconfig.toml, openapi.yaml, a crate or docs/deploy.md.

Fails (exit 1, one "error:" line per finding) on any rule of the check_* functions below, run
in this order by check(): build settings and log groups of every function; the SPEC's routes,
on the Api, payload 2.0, wired to their binaries; ingest's schedule, concurrency, timeout and
DLQ; schedules without Input, on ingest (daily) and live-quotes (following
LiveQuotesEveryMinutes); live-quotes one refresh at a time with its own failure queue and an
alarm over consecutive intervals; the migrations custom resource; the database settings and
the cron metric filter; IAM without wildcards, one role per function, the managed policies
allowed; each crate with one resource; openapi.yaml's operations; HTTPS-only CloudFront and no
execute-api output; the origin-verify secret, header and grants; each function's database role
and secrets (migrate direct to the instance); the API cache key; the prices route's Accept
decided at the edge (a CloudFront Function on its behaviour, run under node against
common/src/api/format-cases.json, writes it into the format query string); the API function alarms from
the access log; the read functions' own security group; the RDS log group; the connection
budget (docs/deploy.md's table, the template rule); the egress defaults and every function's
egress path in each EgressMode, the private database; what one client can make the origin do
(the GET cache key, the cron behaviour, the WAF at the defaults); each group no wider than what
its functions call, the S3 endpoint's policy, no owner login on the proxy; migrate keeping every
role in step and each role's secret rotated; the fixed monthly cost against
docs/deploy.md "Costs". docs/deploy.md "Checks" says the same in prose. With --samconfig:
samconfig.toml's stack name, capabilities, resolve_s3, parallel build, lint, no profile, and
parameter_overrides within the template's parameters.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    "live-quotes": None,
    "migrate": None,
}
HTTP_BINARIES = {b for b, route in EXPECTED_FUNCTIONS.items() if route}
READ_BINARIES = {b for b, route in EXPECTED_FUNCTIONS.items() if route and route[0] == "GET"}
# Managed policies a function role may carry besides this template's own (SAM adds the basic one).
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"}
# Binary -> (the secret of the database role it connects as, the secrets it may read); every
# other function: READ_SECRETS. HTTP functions may also read the origin-verify secret.
OWNER_SECRET = "DatabaseSecret"
READ_SECRETS = ("DatabaseReaderSecret", {"DatabaseReaderSecret"})
SECRETS = {
    "migrate": (OWNER_SECRET, {OWNER_SECRET, "DatabaseReaderSecret", "DatabaseWriterSecret", "DatabaseTriggerSecret"}),
    "ingest": ("DatabaseWriterSecret", {"DatabaseWriterSecret", "CoinGeckoApiKeySecret"}),
    "live-quotes": ("DatabaseWriterSecret", {"DatabaseWriterSecret", "CoinGeckoApiKeySecret"}),
    # Records the accepted run before launching it (one running row at a time): its own role,
    # with rights on ingestion_runs only.
    "cron-trigger": ("DatabaseTriggerSecret", {"DatabaseTriggerSecret", "CronSecret"}),
}
# The application roles' secrets: migrate keeps each role in step with its secret (the variable),
# and each is rotated.
ROLE_SECRETS = {"DatabaseReaderSecret": "DATABASE_READER_SECRET_ARN",
                "DatabaseWriterSecret": "DATABASE_WRITER_SECRET_ARN",
                "DatabaseTriggerSecret": "DATABASE_TRIGGER_SECRET_ARN"}
INGEST_SCHEDULE = "cron(0 2 * * ? *)"
# The live-quote schedule's interval (minutes; 0 turns it off), who reads it, and how many
# consecutive failed intervals the live-quote alarm waits for at least.
LIVE_INTERVAL_PARAMETER = "LiveQuotesEveryMinutes"
LIVE_INTERVAL_ENV = "LIVE_EVERY_MINUTES"
LIVE_INTERVAL_READERS = ("health", "live-quotes")
LIVE_ALARM_MIN_PERIODS = 2
CRON_AUTH_PHRASE = "cron authentication failed"
ORIGIN_VERIFY_HEADER = "x-origin-verify"
ORIGIN_VERIFY_SECRET_SUFFIX = "/origin-verify"
ORIGIN_VERIFY_MIN_LENGTH = 48
# What the API function alarms count in the API's access log: kind -> (the context variable the
# log must record, the filter pattern over the field that records it).
API_FAILURES = {
    "errors": ("$context.integrationErrorMessage", '$.{} != "-"'),
    "throttles": ("$context.integration.integrationStatus", '$.{} = "429"'),
}
POSTGRES_PORT = 5432
# The database connection budget; docs/deploy.md "Database connection budget" shows the same
# arithmetic. max_connections is LEAST(DBInstanceClassMemory/9531392, 5000), where
# DBInstanceClassMemory is what is left of the class's memory after the OS and RDS's own
# processes: 112 for a nominal 1 GiB, about 80-87 observed; plan with the low end.
PLANNED_MAX_CONNECTIONS = {"db.t4g.micro": 80, "db.t3.micro": 80}
SUPERUSER_RESERVED = 3 + 2  # superuser_reserved_connections + rds.rds_superuser_reserved_connections
ROTATION_CONNECTIONS = 4  # the four hosted rotation Lambdas (all rotate when first set up)
OPERATOR_HEADROOM = 5  # at least this many left for psql sessions, RDS's own, a manual migrate
STACK_NAME_FOR_CHECKS = "crypto-dashboard"
RDS_IDENTIFIER = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$")
NO_VALUE = {"Ref": "AWS::NoValue"}

errors: list[str] = []


def error(msg: str) -> None:
    if msg not in errors:  # two checks may find the same thing (e.g. no /api/* behaviour)
        errors.append(msg)


def as_list(value):
    return [] if value is None else value if isinstance(value, list) else [value]


def plain(obj):
    """cfn-lint's decoded nodes (str/dict/list subclasses) as plain JSON values."""
    return json.loads(json.dumps(obj, default=str))


def ref_id(node):
    """The logical id of {"Ref": id}, else None."""
    return node.get("Ref") if isinstance(node, dict) and set(node) == {"Ref"} else None


def of_type(raw: dict, type_: str) -> dict:
    return {n: r for n, r in raw.get("Resources", {}).items() if r.get("Type") == type_}


def props_of(raw: dict, name) -> dict:
    return raw.get("Resources", {}).get(name, {}).get("Properties", {})


def load_template(path: Path) -> dict:
    try:
        from cfnlint.decode import decode
    except ImportError:
        sys.exit("error: cfn-lint is not importable; run scripts/check-deploy.sh (it installs it)")
    template, matches = decode(str(path))
    for m in matches:
        error(f"{path}: cannot parse: {m}")
    return {} if matches else plain(template)


# --- evaluating intrinsic functions under parameters ---------------------------------------------

class Unresolved(Exception):
    """An intrinsic function this small evaluator does not resolve (GetAtt, Ref to a resource)."""


def defaults(raw: dict) -> dict:
    return {k: v.get("Default") for k, v in raw.get("Parameters", {}).items() if "Default" in v}


PSEUDO = {"AWS::StackName": STACK_NAME_FOR_CHECKS, "AWS::Region": "us-east-1", "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com"}


def evaluate(node, raw: dict, params: dict):
    """node with Ref/Sub/If/Join/Equals/Not/And/Or/Condition/FindInMap resolved under params."""
    if isinstance(node, list):
        return [evaluate(n, raw, params) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        return {k: evaluate(v, raw, params) for k, v in node.items()}
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg in params or arg in PSEUDO:
            return params[arg] if arg in params else PSEUDO[arg]
        raise Unresolved(f"Ref {arg}")
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: str(evaluate(
            variables.get(m.group(1), {"Ref": m.group(1)}), raw, params)), text)
    if fn == "Fn::If":
        return evaluate(arg[1] if condition(arg[0], raw, params) else arg[2], raw, params)
    if fn == "Fn::Join":
        return str(arg[0]).join(str(evaluate(x, raw, params)) for x in arg[1])
    if fn == "Fn::Equals":
        a, b = (evaluate(x, raw, params) for x in arg)
        return str(a) == str(b)
    if fn == "Fn::Not":
        return not evaluate(arg[0], raw, params)
    if fn == "Fn::And":
        return all(evaluate(x, raw, params) for x in arg)
    if fn == "Fn::Or":
        return any(evaluate(x, raw, params) for x in arg)
    if fn == "Condition":
        return condition(arg, raw, params)
    if fn == "Fn::FindInMap":
        name, first, second = (evaluate(x, raw, params) for x in arg)
        try:
            return raw["Mappings"][str(name)][str(first)][str(second)]
        except (KeyError, TypeError):
            raise Unresolved(f"FindInMap {name}.{first}.{second}") from None
    if fn.startswith("Fn::"):
        raise Unresolved(fn)
    return {fn: evaluate(arg, raw, params)}


def condition(name: str, raw: dict, params: dict) -> bool:
    if name not in raw.get("Conditions", {}):
        raise Unresolved(f"condition {name}")
    return bool(evaluate(raw["Conditions"][name], raw, params))


def active(res: dict, raw: dict, params: dict) -> bool:
    """Whether a resource exists under params (its Condition, if any, holds); an unresolvable
    condition counts as existing."""
    try:
        return "Condition" not in res or condition(res["Condition"], raw, params)
    except Unresolved:
        return True


def active_resources(raw: dict, params: dict, type_: str) -> dict:
    return {n: r for n, r in of_type(raw, type_).items() if active(r, raw, params)}


_DROPPED = object()


def with_conditions(node, raw: dict, params: dict):
    """node with every Fn::If decided and AWS::NoValue dropped; other intrinsics kept."""
    if isinstance(node, list):
        return [v for v in (with_conditions(n, raw, params) for n in node) if v is not _DROPPED]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return with_conditions(yes if condition(name, raw, params) else no, raw, params)
        if node == NO_VALUE:
            return _DROPPED
        return {k: v for k, v in ((k, with_conditions(v, raw, params)) for k, v in node.items())
                if v is not _DROPPED}
    return node


# --- SAM: functions as merged with Globals, and the transformed template ------------------------

def simplify(node):
    """A merged value as CloudFormation reads it: AWS::NoValue entries left out, and a one-Ref
    Fn::Split (how Globals states a list that a function's own list replaces) as that list."""
    if isinstance(node, list):
        return [simplify(v) for v in node if v != NO_VALUE]
    if isinstance(node, dict):
        split = node.get("Fn::Split")
        if len(node) == 1 and isinstance(split, list) and len(split) == 2 and ref_id(split[1]):
            return [split[1]]
        if any(k.startswith("Fn::") for k in node):
            return node
        return {k: simplify(v) for k, v in node.items() if v != NO_VALUE}
    return node


def sam_functions(raw: dict) -> dict:
    """Logical id -> every AWS::Serverless::Function with its Properties as SAM merges them with
    Globals.Function (simplified), or {} after an error."""
    try:
        from samtranslator.plugins.globals.globals import Globals
    except ImportError:
        error("aws-sam-translator is not importable (it comes with cfn-lint)")
        return {}
    try:
        merged = Globals(copy.deepcopy(raw))
        return {name: dict(res, Properties=simplify(merged.merge(
                    "AWS::Serverless::Function", copy.deepcopy(res.get("Properties", {})), name,
                    res.get("IgnoreGlobals"))))
                for name, res in of_type(raw, "AWS::Serverless::Function").items()}
    except Exception as exc:  # noqa: BLE001 - any translator failure is a finding
        error(f"SAM transform failed: {exc}")
        return {}


def translate(raw: dict) -> dict | None:
    """The template after the SAM transform (local, no AWS calls), or None with an error."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:
        error("aws-sam-translator is not importable (it comes with cfn-lint)")
        return None
    template = copy.deepcopy(raw)
    for res in template.get("Resources", {}).values():
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(res.get("Type"))
        if key:
            res.setdefault("Properties", {})[key] = "s3://bucket/key"

    class NoManagedPolicyLookups:  # only ARNs are used, so no IAM calls are needed
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        return plain(transform(template, defaults(template), NoManagedPolicyLookups()))
    except Exception as exc:  # noqa: BLE001 - any translator failure is a finding
        error(f"SAM transform failed: {exc}")
        return None


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


def check_statement(where: str, stmt: dict, endpoint_policy: bool = False) -> None:
    """endpoint_policy: a VPC endpoint's policy, where Principal '*' is the form (it limits what
    passes the endpoint and grants nothing), so only its actions and resources are judged."""
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
    if "*" in as_list(stmt.get("Resource")):
        error(f"{where}: Resource '*'; scope it to the ARNs it needs")
    principal = stmt.get("Principal")
    if endpoint_policy:
        return
    if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))):
        error(f"{where}: Allow to Principal '*' (public); name the principal")


def policy_statements(raw: dict, props: dict) -> list[dict]:
    """The statements a function's Policies grant: inline ones and those of the template's own
    managed policies it names."""
    docs = [props_of(raw, ref_id(p)).get("PolicyDocument", {})
            if raw.get("Resources", {}).get(ref_id(p) or "", {}).get("Type") == "AWS::IAM::ManagedPolicy" else p
            for p in as_list(props.get("Policies"))]
    return [stmt for _, stmt in walk_statements(docs, "Policies")]


def check_iam(raw: dict, translated: dict | None) -> None:
    for name, res in raw.get("Resources", {}).items():
        for where, stmt in walk_statements(res, f"Resources.{name}"):
            check_statement(where, stmt, endpoint_policy=res.get("Type") == "AWS::EC2::VPCEndpoint")
    if translated is None:
        return
    resources = translated.get("Resources", {})
    own = set(of_type(raw, "AWS::IAM::ManagedPolicy"))  # their statements are checked above
    for name, res in of_type(translated, "AWS::IAM::Role").items():
        p = res.get("Properties", {})
        for where, stmt in walk_statements(p.get("Policies", []), f"(generated) {name}.Policies"):
            check_statement(where, stmt)
        for arn in as_list(p.get("ManagedPolicyArns")):
            text = json.dumps(arn)
            if ref_id(arn) not in own and not any(re.search(rf"[/:]{m}\"", text) for m in ALLOWED_MANAGED_POLICIES):
                error(f"(generated) {name}: managed policy {text} is not one of "
                      f"{sorted(ALLOWED_MANAGED_POLICIES)} or this template's own")
    roles: dict[str, str] = {}
    for name, res in of_type(translated, "AWS::Lambda::Function").items():
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


# --- functions, routes, crates, openapi.yaml --------------------------------------------------

def check_functions(raw: dict, functions: dict) -> dict[str, tuple[str, dict]]:
    """Checks build settings and log groups; returns binary -> (logical id, merged resource)."""
    by_binary: dict[str, tuple[str, dict]] = {}
    for name, res in functions.items():
        props, meta = res.get("Properties", {}), res.get("Metadata", {})
        for key, wanted, why in (("Runtime", "provided.al2023", ""), ("Architectures", ["arm64"], ""),
                                 ("Handler", "bootstrap", ""),
                                 ("CodeUri", ".", " (the workspace root; Binary picks the crate)")):
            if props.get(key) != wanted:
                error(f"{name}: {key} must be {wanted if isinstance(wanted, str) else '[arm64]'}{why}")
        if meta.get("BuildMethod") != "rust-cargolambda":
            error(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        target = raw["Resources"].get(ref_id(props.get("LoggingConfig", {}).get("LogGroup")) or "", {})
        if target.get("Type") != "AWS::Logs::LogGroup" or "RetentionInDays" not in target.get("Properties", {}):
            error(f"{name}: LoggingConfig.LogGroup must Ref a log group with RetentionInDays")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary:
            error(f"{name}: Metadata.BuildProperties.Binary is missing")
            continue
        if binary not in EXPECTED_FUNCTIONS:
            error(f"{name}: unexpected binary {binary!r}")
        if binary in by_binary:
            error(f"{name} and {by_binary[binary][0]} both build {binary!r}")
        by_binary[binary] = (name, res)
    for binary in EXPECTED_FUNCTIONS:
        if binary not in by_binary:
            error(f"no function builds the {binary!r} binary")
    return by_binary


def routes(by_binary) -> dict[tuple[str, str], str]:
    """(method, path) -> binary of every HttpApi event, checking each."""
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
    return seen


def check_routes(by_binary) -> None:
    seen = routes(by_binary)
    for binary in sorted(HTTP_BINARIES):
        route = EXPECTED_FUNCTIONS[binary]
        if route not in seen:
            error(f"route {route[0]} {route[1]} (function {binary}) is missing")
        elif seen[route] != binary:
            error(f"route {route[0]} {route[1]} goes to {seen[route]}, expected {binary}")
    for route, binary in seen.items():
        if route not in EXPECTED_FUNCTIONS.values():
            error(f"unexpected route {route[0]} {route[1]} ({binary}); add it to SPEC and this list")


def toml_module():
    """tomllib (Python 3.11+), or None after reporting that it is missing."""
    try:
        import tomllib
    except ModuleNotFoundError:
        error(f"Python {sys.version.split()[0]} has no tomllib (it needs 3.11 or newer), so TOML "
              f"files cannot be checked; run with Python 3.11+ (scripts/check-deploy.sh does)")
        return None
    return tomllib


def check_crates(root: Path, by_binary) -> None:
    """Every binary of a crate under functions/ (its package with src/main.rs, its [[bin]]s; a
    [lib] is none) has exactly one template resource, and back."""
    tomllib = toml_module()
    if tomllib is None:
        return
    declared = set()
    for manifest in sorted(root.glob("functions/*/Cargo.toml")):
        try:
            cargo = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            error(f"{manifest.parent.name}/Cargo.toml cannot be read: {exc}")
            continue
        names = {b.get("name") for b in cargo.get("bin", []) if isinstance(b, dict)}
        if (manifest.parent / "src" / "main.rs").is_file() and cargo.get("package", {}).get("autobins", True):
            names.add(cargo.get("package", {}).get("name"))
        declared |= {n for n in names if isinstance(n, str)}
    for crate in sorted(declared - set(by_binary)):
        error(f"crate functions/{crate} has no template resource")
    for binary in sorted(set(by_binary) - declared):
        error(f"template resource {by_binary[binary][0]} builds {binary!r}, which no crate under functions/ defines")


def check_openapi(root: Path, by_binary) -> dict[str, set[str]]:
    """The template's HTTP routes and openapi.yaml's operations are the same set. Returns each
    path's query parameters (openapi.yaml is generated from the handlers)."""
    path = root / "openapi.yaml"
    if not path.is_file():
        error("openapi.yaml is missing")
        return {}
    from cfnlint.decode import decode  # a YAML loader we already have; OpenAPI is plain YAML

    doc, matches = decode(str(path))
    if matches or not doc:
        error(f"openapi.yaml cannot be parsed: {matches}")
        return {}
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    operations = [(m.upper(), p, op) for p, item in plain(doc).get("paths", {}).items()
                  for m, op in item.items() if m in methods]
    documented = {(m, p) for m, p, _ in operations}
    routed = set(routes(by_binary))
    for m, p in sorted(routed - documented):
        error(f"template route {m} {p} is not in openapi.yaml")
    for m, p in sorted(documented - routed):
        error(f"openapi.yaml operation {m} {p} has no template route")
    parameters: dict[str, set[str]] = {}
    for _, p, op in operations:
        parameters.setdefault(p, set()).update(
            q["name"] for q in op.get("parameters", []) if isinstance(q, dict) and q.get("in") == "query")
    return parameters


# --- schedules, ingest and live quotes ---------------------------------------------------------

def schedule_events(res: dict) -> dict:
    return {n: e for n, e in res.get("Properties", {}).get("Events", {}).items()
            if e.get("Type") in ("Schedule", "ScheduleV2")}


def expression(event: dict):
    return event.get("Properties", {}).get("Schedule", event.get("Properties", {}).get("ScheduleExpression"))


def check_ingest(by_binary) -> None:
    if "ingest" not in by_binary:
        return
    name, res = by_binary["ingest"]
    props = res["Properties"]
    if INGEST_SCHEDULE not in [expression(e) for e in schedule_events(res).values()]:
        error(f"{name}: needs an EventBridge schedule {INGEST_SCHEDULE}")
    if props.get("ReservedConcurrentExecutions") != 1:
        error(f"{name}: ReservedConcurrentExecutions must be 1 (one run at a time)")
    if props.get("Timeout") != 900:
        error(f"{name}: Timeout must be 900")
    if props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {}).get("Type") != "SQS":
        error(f"{name}: EventInvokeConfig needs an OnFailure SQS destination (the DLQ)")


def check_schedules(raw: dict, by_binary) -> None:
    """Each schedule sends EventBridge's scheduled event itself, to ingest (the daily run) or
    live-quotes (every LiveQuotesEveryMinutes). A function tells a scheduled run from a manual
    invoke by that event: a schedule with an Input would be recorded as trigger manual."""
    for binary, (name, res) in sorted(by_binary.items()):
        for ev_name, ev in schedule_events(res).items():
            where = f"{name}.Events.{ev_name}"
            for key in ("Input", "InputTransformer"):
                if key in ev.get("Properties", {}):
                    error(f"{where}: sends {key}; the function gets it as a manual payload and records "
                          f"the scheduled run as trigger manual. Send the scheduled event itself (no {key})")
            if binary == "ingest" and expression(ev) != INGEST_SCHEDULE:
                error(f"{where}: the ingest function's only schedule is the daily {INGEST_SCHEDULE}; "
                      f"live quotes have a function of their own (a refresh must never wait behind a run)")
            elif binary not in ("ingest", "live-quotes"):
                error(f"{where}: {name} has a schedule; only ingest and live-quotes run on one")
    if "live-quotes" not in by_binary:
        return
    name, res = by_binary["live-quotes"]
    events = list(schedule_events(res).values())
    if len(events) != 1:
        error(f"{name}: needs exactly one schedule (every {LIVE_INTERVAL_PARAMETER} minutes), has {len(events)}")
        return
    allowed = raw.get("Parameters", {}).get(LIVE_INTERVAL_PARAMETER, {}).get("AllowedValues")
    if not allowed or 0 not in [int(v) for v in allowed]:
        error(f"parameter {LIVE_INTERVAL_PARAMETER} must list its AllowedValues, 0 (off) among them")
        return
    for minutes in allowed:
        params = dict(defaults(raw), **{LIVE_INTERVAL_PARAMETER: minutes})
        try:
            rate = evaluate(expression(events[0]), raw, params)
            state = evaluate(events[0].get("Properties", {}).get("State", "ENABLED"), raw, params)
        except Unresolved as exc:
            error(f"{name}: its schedule cannot be worked out from {LIVE_INTERVAL_PARAMETER} ({exc})")
            return
        if int(minutes) == 0:
            if state != "DISABLED":
                error(f"{name}: with {LIVE_INTERVAL_PARAMETER}=0 its schedule must be DISABLED, is {state!r}")
        elif (rate, state) != (f"rate({minutes} minutes)", "ENABLED"):
            error(f"{name}: with {LIVE_INTERVAL_PARAMETER}={minutes} its schedule must be an ENABLED "
                  f"rate({minutes} minutes), is {state} {rate!r}")


def check_live_quotes(raw: dict, by_binary) -> None:
    """Live quotes on a function of their own: one refresh at a time, never queued behind
    anything, failures handled apart from ingest's, an alarm that means they keep failing."""
    for binary in LIVE_INTERVAL_READERS:
        if binary in by_binary:
            name, res = by_binary[binary]
            if ref_id(res["Properties"].get("Environment", {}).get("Variables", {}).get(LIVE_INTERVAL_ENV)) \
                    != LIVE_INTERVAL_PARAMETER:
                error(f"{name}: {LIVE_INTERVAL_ENV} must be !Ref {LIVE_INTERVAL_PARAMETER} (the live refresh's "
                      f"interval; health reports it degraded after three)")
    if "live-quotes" not in by_binary:
        return
    name, res = by_binary["live-quotes"]
    props = res["Properties"]
    allowed = [int(v) for v in raw.get("Parameters", {}).get(LIVE_INTERVAL_PARAMETER, {}).get("AllowedValues", [])]
    shortest = min((m * 60 for m in allowed if m > 0), default=0)
    if props.get("ReservedConcurrentExecutions") != 1:
        error(f"{name}: ReservedConcurrentExecutions must be 1 (one refresh at a time, its own units)")
    config = props.get("EventInvokeConfig", {})
    if config.get("MaximumRetryAttempts") != 0:
        error(f"{name}: EventInvokeConfig.MaximumRetryAttempts must be 0 (the next schedule is the retry)")
    timeout, age = props.get("Timeout"), config.get("MaximumEventAgeInSeconds")
    if not isinstance(timeout, int) or not isinstance(age, int) or timeout + age > shortest:
        error(f"{name}: Timeout ({timeout}) + EventInvokeConfig.MaximumEventAgeInSeconds ({age}) must be "
              f"numbers within the shortest refresh interval ({shortest} s), so that a refresh ends "
              f"before the next is due")
    def on_failure(r):
        return r.get("Properties", {}).get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if not on_failure(res) or on_failure(res) == on_failure(by_binary.get("ingest", (None, {}))[1]):
        error(f"{name}: EventInvokeConfig needs an OnFailure destination of its own (not ingest's DLQ, "
              f"whose alarm means a history run failed)")
    alarms = {n: a for n, a in of_type(raw, "AWS::CloudWatch::Alarm").items()
              if a.get("Properties", {}).get("MetricName") == "Errors"
              and {"Name": "FunctionName", "Value": {"Ref": name}} in as_list(a["Properties"].get("Dimensions"))}
    if not alarms:
        error(f"no alarm on {name}'s Errors (live quotes failing in consecutive intervals)")
    for alarm, a in alarms.items():
        p = a["Properties"]
        periods = p.get("EvaluationPeriods")
        if not isinstance(periods, int) or periods < LIVE_ALARM_MIN_PERIODS or p.get("DatapointsToAlarm", periods) != periods:
            error(f"{alarm}: must fire on failures in {LIVE_ALARM_MIN_PERIODS} or more consecutive refresh "
                  f"intervals (EvaluationPeriods >= {LIVE_ALARM_MIN_PERIODS}, DatapointsToAlarm equal to it), "
                  f"not on one failed refresh")
        if a.get("Condition") != "LiveQuotesOn":
            error(f"{alarm}: must exist only while live quotes are on (Condition LiveQuotesOn)")
        for minutes in (m for m in allowed if m > 0):
            try:
                period = evaluate(p.get("Period"), raw, dict(defaults(raw), **{LIVE_INTERVAL_PARAMETER: minutes}))
            except Unresolved as exc:
                error(f"{alarm}: its Period cannot be worked out from {LIVE_INTERVAL_PARAMETER} ({exc})")
                break
            if str(period) != str(minutes * 60):
                error(f"{alarm}: with {LIVE_INTERVAL_PARAMETER}={minutes} its Period must be one refresh "
                      f"interval ({minutes * 60} s), is {period}")


# --- data: migrations, database roles and secrets, the database, logs ----------------------------

def check_migrations(raw: dict, by_binary) -> None:
    if "migrate" not in by_binary:
        return
    migrate = by_binary["migrate"][0]
    found = [n for n, r in raw.get("Resources", {}).items()
             if (r.get("Type") == "AWS::CloudFormation::CustomResource" or str(r.get("Type", "")).startswith("Custom::"))
             and migrate in json.dumps(r.get("Properties", {}).get("ServiceToken"))]
    if not found:
        error(f"no custom resource invokes {migrate} (migrations on deploy)")
    for name in found:
        if "Database" not in as_list(raw["Resources"][name].get("DependsOn")):
            error(f"{name}: must DependsOn the Database instance")
        if "DeployId" not in props_of(raw, name):
            error(f"{name}: needs a DeployId property so every deploy runs migrations")


def readable_secrets(raw: dict, props: dict) -> tuple[set[str], list[str]]:
    """Logical ids of the secrets a function may GetSecretValue, and the resources that are not a
    Ref to a secret."""
    ids, others = set(), []
    for stmt in policy_statements(raw, props):
        if stmt.get("Effect") == "Allow" and "secretsmanager:GetSecretValue" in as_list(stmt.get("Action")):
            for resource in as_list(stmt.get("Resource")):
                if ref_id(resource):
                    ids.add(ref_id(resource))
                else:
                    others.append(json.dumps(resource))
    return ids, others


def check_function_secrets(raw: dict, by_binary, secret: str | None) -> None:
    """Least privilege: each function logs in to the database as its own role and reads only its
    own secrets (an HTTP function also the origin-verify secret, which it must)."""
    for binary, (name, res) in by_binary.items():
        props = res.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        database, allowed = SECRETS.get(binary, READ_SECRETS)
        allowed = set(allowed)
        if variables.get("DATABASE_SECRET_ARN") != {"Ref": database}:
            error(f"{name}: DATABASE_SECRET_ARN must be !Ref {database}")
        if binary != "migrate" and json.dumps({"Ref": OWNER_SECRET}) in json.dumps(policy_statements(raw, props)):
            error(f"{name}: only the migrate function may read {OWNER_SECRET} (the owner)")
        if binary == "migrate" and "DB_HOST" in variables:
            error(f"{name}: DB_HOST is set (Globals' RDS Proxy endpoint?); migrate connects to the instance "
                  f"itself, never through the proxy, which may not be ready yet")
        origin = ref_id(variables.get("ORIGIN_VERIFY_SECRET_ARN"))
        if binary not in HTTP_BINARIES:
            if "ORIGIN_VERIFY_SECRET_ARN" in variables:
                error(f"{name}: not an HTTP function; it has no use for ORIGIN_VERIFY_SECRET_ARN")
        elif secret and origin != secret:
            error(f"{name}: an HTTP function needs ORIGIN_VERIFY_SECRET_ARN: !Ref {secret}")
        if binary in HTTP_BINARIES:  # without a secret found (reported once already), judge the rest
            allowed.update(filter(None, [secret or origin]))
        readable, others = readable_secrets(raw, props)
        for other in others:
            error(f"{name}: secretsmanager:GetSecretValue on {other}; use !Ref of a secret of this template")
        for extra in sorted(readable - allowed):
            error(f"{name}: may read {extra}, but its secrets are {sorted(allowed)}")
        if binary in HTTP_BINARIES and secret and secret not in readable:
            error(f"{name}: needs secretsmanager:GetSecretValue on {secret} (ORIGIN_VERIFY_SECRET_ARN)")
        if binary == "migrate":
            for role_secret, variable in ROLE_SECRETS.items():
                if ref_id(variables.get(variable)) != role_secret:
                    error(f"{name}: {variable} must be !Ref {role_secret}, so that every deploy creates the "
                          f"role and keeps it in step with its secret")
    rotated = {ref_id(r.get("Properties", {}).get("SecretId"))
               for r in of_type(raw, "AWS::SecretsManager::RotationSchedule").values()}
    for role_secret in sorted(set(ROLE_SECRETS) - rotated):
        error(f"{role_secret}: a database role's secret without a RotationSchedule")


def check_database(raw: dict) -> None:
    dbs = of_type(raw, "AWS::RDS::DBInstance")
    if not dbs:
        error("no AWS::RDS::DBInstance")
    for name, res in dbs.items():
        p = res.get("Properties", {})
        for key, wanted in (("Engine", "postgres"), ("StorageEncrypted", True), ("DeletionProtection", True),
                            ("PubliclyAccessible", False)):
            if p.get(key) != wanted or type(p.get(key)) is not type(wanted):
                error(f"{name}: {key} must be {str(wanted).lower()}")
        if not isinstance(p.get("BackupRetentionPeriod"), int) or p["BackupRetentionPeriod"] < 7:
            error(f"{name}: BackupRetentionPeriod must be at least 7")
        if res.get("DeletionPolicy") != "Snapshot" or res.get("UpdateReplacePolicy") != "Snapshot":
            error(f"{name}: DeletionPolicy and UpdateReplacePolicy must be Snapshot")
    if not any(CRON_AUTH_PHRASE in str(f.get("Properties", {}).get("FilterPattern", ""))
               for f in of_type(raw, "AWS::Logs::MetricFilter").values()):
        error(f'no metric filter matches the cron-trigger log phrase "{CRON_AUTH_PHRASE}"')


def check_rds_log_group(raw: dict) -> None:
    log_groups = of_type(raw, "AWS::Logs::LogGroup")
    for name, res in of_type(raw, "AWS::RDS::DBInstance").items():
        props = res.get("Properties", {})
        if "postgresql" not in as_list(props.get("EnableCloudwatchLogsExports")):
            continue
        ident = props.get("DBInstanceIdentifier")
        if ident is None:
            error(f"{name}: exports PostgreSQL logs but has no DBInstanceIdentifier, so its log group "
                  f"(/aws/rds/instance/<id>/postgresql) cannot be created, with retention, before RDS makes it")
            continue
        # Defaults, and the same with every empty parameter the identifier uses set.
        base = defaults(raw)
        used = {a or b for a, b in re.findall(r'"Ref": "(\w+)"|\$\{(\w+)\}', json.dumps(ident))}
        matched = set()
        for params in (base, dict(base, **{k: "sample-db" for k in used if base.get(k) == ""})):
            try:
                value = evaluate(ident, raw, params)
            except Unresolved as exc:
                error(f"{name}: DBInstanceIdentifier cannot be worked out from parameters ({exc})")
                break
            if not isinstance(value, str) or not RDS_IDENTIFIER.match(value):
                error(f"{name}: DBInstanceIdentifier {value!r} is not a valid RDS identifier "
                      f"(letters, digits, single hyphens, starting with a letter, at most 63)")
            wanted = f"/aws/rds/instance/{value}/postgresql"
            here = set()
            for lg, lg_res in log_groups.items():
                try:
                    if active(lg_res, raw, params) and evaluate(lg_res.get("Properties", {}).get("LogGroupName"),
                                                                raw, params) == wanted:
                        here.add(lg)
                except Unresolved:
                    continue
            if not here:
                error(f"{name}: no log group named {wanted} (the PostgreSQL log export's group)")
            matched |= here
        for lg in sorted(matched):
            if "RetentionInDays" not in props_of(raw, lg):
                error(f"{lg}: the PostgreSQL log group needs RetentionInDays")
            if lg not in as_list(res.get("DependsOn")):
                error(f"{name}: must DependsOn {lg}, or RDS may create the group first (without retention)")


# --- the edge: CloudFront, origin verification, outputs, the API cache key, the API alarms -----

def api_behaviour(raw: dict):
    """(distribution id, its config, the /api/* behaviour) or None."""
    for name, res in of_type(raw, "AWS::CloudFront::Distribution").items():
        config = res.get("Properties", {}).get("DistributionConfig", {})
        for b in config.get("CacheBehaviors", []):
            if b.get("PathPattern") == "/api/*":
                return name, config, b
    error("no CloudFront behaviour for /api/*")
    return None


def check_cloudfront(raw: dict) -> None:
    for name, res in of_type(raw, "AWS::CloudFront::Distribution").items():
        config = res.get("Properties", {}).get("DistributionConfig", {})
        if config.get("DefaultCacheBehavior", {}).get("ViewerProtocolPolicy") != "redirect-to-https":
            error(f"{name}: the default behaviour must redirect HTTP to HTTPS")
        for b in config.get("CacheBehaviors", []):
            if b.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                error(f"{name}: behaviour {b.get('PathPattern')} must be HTTPS only")
    for name, out in raw.get("Outputs", {}).items():
        if "execute-api" in json.dumps(out.get("Value")) or ref_id(out.get("Value")) == "Api":
            error(f"Outputs.{name}: exposes the execute-api endpoint; the API's address is CloudFront's /api/")


def origin_verify_secret(raw: dict) -> str | None:
    """Checks the generated origin-verify secret; returns its logical id."""
    found = None
    for name, res in of_type(raw, "AWS::SecretsManager::Secret").items():
        props = res.get("Properties", {})
        try:
            secret_name = evaluate(props.get("Name"), raw, defaults(raw))
        except Unresolved:
            continue
        if not (isinstance(secret_name, str) and secret_name.endswith(ORIGIN_VERIFY_SECRET_SUFFIX)):
            continue
        found = name
        if secret_name != STACK_NAME_FOR_CHECKS + ORIGIN_VERIFY_SECRET_SUFFIX:
            error(f"{name}: Name must be ${{AWS::StackName}}{ORIGIN_VERIFY_SECRET_SUFFIX}, like the other secrets")
        gen = props.get("GenerateSecretString")
        if not isinstance(gen, dict) or "SecretString" in props:
            error(f"{name}: the origin-verify value must be generated (GenerateSecretString), not given")
            continue
        if "SecretStringTemplate" in gen or "GenerateStringKey" in gen:
            error(f"{name}: the origin-verify secret must be a plain string (no JSON template)")
        if not isinstance(gen.get("PasswordLength"), int) or gen["PasswordLength"] < ORIGIN_VERIFY_MIN_LENGTH:
            error(f"{name}: PasswordLength must be at least {ORIGIN_VERIFY_MIN_LENGTH} (the default is 32)")
        if gen.get("ExcludePunctuation") is not True or gen.get("IncludeSpace") is True:
            error(f"{name}: ExcludePunctuation must be true and IncludeSpace not set (header-safe value)")
    if found is None:
        error(f"no AWS::SecretsManager::Secret named ${{AWS::StackName}}{ORIGIN_VERIFY_SECRET_SUFFIX}")
    return found


def string_leaves(node):
    """The template strings a value can take: each branch of Fn::If, the text of Fn::Sub."""
    if isinstance(node, dict) and "Fn::If" in node:
        for branch in node["Fn::If"][1:]:
            yield from string_leaves(branch)
    elif isinstance(node, dict) and "Fn::Sub" in node:
        yield node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
    else:
        yield node if isinstance(node, str) else json.dumps(node)


def check_origin_header(raw: dict, secret: str | None) -> None:
    found = api_behaviour(raw)
    if not found or not secret:
        return
    name, config, behaviour = found
    origin = {o.get("Id"): o for o in config.get("Origins", [])}.get(behaviour.get("TargetOriginId"))
    if origin is None or "execute-api" not in json.dumps(origin.get("DomainName")):
        error(f"{name}: the /api/* behaviour must target the HTTP API's execute-api origin")
        return
    headers = [h for h in origin.get("OriginCustomHeaders", [])
               if str(h.get("HeaderName", "")).lower() == ORIGIN_VERIFY_HEADER]
    if len(headers) != 1:
        error(f"{name}: origin {origin.get('Id')} must send one X-Origin-Verify custom header")
        return
    reference = re.compile(r"^\{\{resolve:secretsmanager:\$\{" + re.escape(secret)
                           + r"\}(:SecretString(:(?:[^:{}$]|\$\{\w+\})*){0,3})?\}\}$")
    for text in string_leaves(headers[0].get("HeaderValue")):
        if not reference.match(text):
            error(f"{name}: X-Origin-Verify must be a {{{{resolve:secretsmanager:${{{secret}}}...}}}} "
                  f"dynamic reference to the origin-verify secret, got {text!r}")


def path_pattern_matches(pattern: str, path: str) -> bool:
    """CloudFront's path pattern: `*` any run of characters, `?` one; case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path) is not None


def check_api_cache_key(raw: dict, parameters: dict[str, set[str]]) -> None:
    """Each cache policy keys on exactly the query parameters of the routes its behaviours
    serve (a route is served by the first behaviour whose pattern matches its path, the default
    one last), at most CloudFront's 10; no origin request policy forwards others."""
    found = api_behaviour(raw)
    if not found:
        return
    name, config, api = found
    if raw.get("Resources", {}).get(ref_id(api.get("CachePolicyId")) or "", {}).get("Type") \
            != "AWS::CloudFront::CachePolicy":
        error(f"{name}: the /api/* behaviour must use a cache policy of this template")
    behaviours = config.get("CacheBehaviors", []) + [dict(config.get("DefaultCacheBehavior", {}), PathPattern="*")]
    served: dict[str, set[str]] = {}  # policy -> the union of its routes' parameters
    behaviours_of: dict[str, list] = {}  # policy -> the behaviours using it that serve a route
    for path, names in sorted(parameters.items()):
        request_path = re.sub(r"\{[^}/]+\}", "x", path)
        behaviour = next(b for b in behaviours if path_pattern_matches(str(b.get("PathPattern")), request_path)
                         or b.get("PathPattern") == "*")
        policy_id = ref_id(behaviour.get("CachePolicyId"))
        if raw.get("Resources", {}).get(policy_id or "", {}).get("Type") != "AWS::CloudFront::CachePolicy":
            if names:
                error(f"{name}: {path} reads {sorted(names)} through behaviour {behaviour.get('PathPattern')}, "
                      f"whose cache policy is not one of this template")
            continue
        served.setdefault(policy_id, set()).update(names)
        if all(b is not behaviour for b in behaviours_of.setdefault(policy_id, [])):
            behaviours_of[policy_id].append(behaviour)
    for policy_id, names in sorted(served.items()):
        qs = (props_of(raw, policy_id).get("CachePolicyConfig", {})
              .get("ParametersInCacheKeyAndForwardedToOrigin", {}).get("QueryStringsConfig", {}))
        listed = as_list(qs.get("QueryStrings"))
        keyed = set(listed) if qs.get("QueryStringBehavior") == "whitelist" else set()
        if (qs.get("QueryStringBehavior") != "whitelist" and names) or keyed != names \
                or len(listed) != len(set(listed)):
            error(f"{policy_id}: the cache key's query strings must be exactly the query parameters of the "
                  f"routes its behaviours serve (openapi.yaml: whitelist {sorted(names)}), got "
                  f"{qs.get('QueryStringBehavior')} {listed}")
        if len(listed) > 10:
            error(f"{policy_id}: {len(listed)} query strings exceed CloudFront's quota of 10 per cache policy")
        for orp_id in sorted({ref_id(b.get("OriginRequestPolicyId")) or "" for b in behaviours_of[policy_id]}):
            if raw.get("Resources", {}).get(orp_id, {}).get("Type") != "AWS::CloudFront::OriginRequestPolicy":
                continue
            qs = props_of(raw, orp_id).get("OriginRequestPolicyConfig", {}).get("QueryStringsConfig", {})
            how = qs.get("QueryStringBehavior")
            if how not in ("none", "whitelist") or not set(as_list(qs.get("QueryStrings"))) <= keyed:
                error(f"{orp_id}: forwards query strings outside the cache key ({how}); the "
                      f"origin would answer for a request the key does not describe")


# The route whose answer the Accept header may choose (JSON or CSV, when the query has no
# `format`), the cases its choice is tested with (the API's unit tests read the same file), and
# the runtime its CloudFront Function must have.
NEGOTIATED_PATH = "/api/coins/{id}/prices"
FORMAT_CASES = REPO_ROOT / "common" / "src" / "api" / "format-cases.json"
FUNCTION_RUNTIME = "cloudfront-js-2.0"
# Runs a viewer-request handler (its code first) on each event of CASES; prints, per event, the
# query string it returns, or the error it throws.
NODE_DRIVER = """
;console.log(JSON.stringify(CASES.map(function (c) {
  var event = {version: '1.0', context: {eventType: 'viewer-request'}, viewer: {ip: '198.51.100.7'},
    request: {method: 'GET', uri: '/api/coins/bitcoin/prices', querystring: c.query, headers: c.headers, cookies: {}}};
  try { return handler(event).querystring; } catch (e) { return {error: String(e)}; }
})));
"""


def cloudfront_event(accept, query: dict) -> dict:
    """A viewer-request event's query string and headers for `accept` (None, a value, or the
    values of several Accept lines)."""
    lines = [] if accept is None else [accept] if isinstance(accept, str) else accept
    headers = {}
    if lines:
        headers["accept"] = {"value": lines[0]}
        if len(lines) > 1:
            headers["accept"]["multiValue"] = [{"value": v} for v in lines]
    return {"query": {k: {"value": v} for k, v in query.items()}, "headers": headers}


def check_accept_at_the_edge(raw: dict) -> None:
    """The behaviour serving the negotiated route (and its trailing-slash form, which the API
    answers alike) runs a viewer-request CloudFront Function of this template that writes the
    form Accept selects into `format`, so the cache key (query strings, no client-chosen header)
    tells JSON and CSV apart: run under node, it must choose as the API does in every case of
    format-cases.json and leave a `format` the request gives alone."""
    found = api_behaviour(raw)
    if not found:
        return
    name, config, _ = found
    behaviours = config.get("CacheBehaviors", []) + [dict(config.get("DefaultCacheBehavior", {}), PathPattern="*")]

    def serving(path: str) -> dict:
        return next(b for b in behaviours if path_pattern_matches(str(b.get("PathPattern")), path)
                    or b.get("PathPattern") == "*")

    path = NEGOTIATED_PATH.replace("{id}", "bitcoin")
    behaviour, pattern = serving(path), serving(path).get("PathPattern")
    if serving(path + "/") is not behaviour:
        error(f"{name}: {path}/ is served by behaviour {serving(path + '/').get('PathPattern')}, {path} by "
              f"{pattern}; the API answers both alike (it drops one trailing slash), so both need the Accept function")
    functions = of_type(raw, "AWS::CloudFront::Function")
    associated = [(a.get("FunctionARN") or {}).get("Fn::GetAtt", [None])[0]
                  for a in as_list(behaviour.get("FunctionAssociations")) if a.get("EventType") == "viewer-request"]
    function = associated[0] if associated and associated[0] in functions else None
    props = props_of(raw, function) if function else {}
    if function is None or props.get("FunctionConfig", {}).get("Runtime") != FUNCTION_RUNTIME \
            or props.get("AutoPublish") is not True:
        error(f"{name}: behaviour {pattern} serves {NEGOTIATED_PATH}, whose answer Accept may choose, without a "
              f"viewer-request {FUNCTION_RUNTIME} function of this template (AutoPublish) that writes that choice into "
              f"the format query string: CloudFront would cache whichever form a request got first under a key that "
              f"does not say which")
        return
    node = shutil.which("node")
    if node is None:
        error(f"{function}: node (Node.js 20) is needed to run the CloudFront Function against its cases; "
              f"install it (Debian: apt-get install nodejs)")
        return
    cases = json.loads(FORMAT_CASES.read_text(encoding="utf-8"))
    events = [dict(cloudfront_event(c["accept"], {"currency": "usd"}), want=c["format"],
                   what=f"Accept {c['accept']!r} without format") for c in cases]
    events += [dict(cloudfront_event("text/csv", {"format": given}), want=given, what=f"format={given} with Accept text/csv")
               for given in ("json", "bogus")]
    script = str(props.get("FunctionCode", "")) + "\nvar CASES = " + json.dumps(events) + ";" + NODE_DRIVER
    done = subprocess.run([node, "-"], input=script, capture_output=True, text=True, timeout=60)
    try:
        results = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        results = None
    if not isinstance(results, list) or len(results) != len(events):
        lines = done.stderr.strip().splitlines()
        why = next((line for line in lines if re.match(r"\w*Error\b", line)), f"exit {done.returncode}")
        error(f"{function}: its code does not run under node: {why}")
        return
    wrong = [f"{event['what']} gives {result!r}, not format={event['want']}"
             for event, result in zip(events, results)
             if not isinstance(result, dict) or "error" in result
             or (result.get("format") or {}).get("value") != event["want"]
             or result.get("currency") != event["query"].get("currency")]
    if wrong:
        error(f"{function}: chooses unlike the API (or changes the rest of the query) in {len(wrong)} of {len(events)} "
              f"cases ({FORMAT_CASES.relative_to(REPO_ROOT)} and a given format kept): {'; '.join(wrong[:3])}")


# The cron route: the one route whose requests carry Authorization (CloudFront forwards it only
# from a cache policy's key) and may change state, so a behaviour of its own caches nothing.
CRON_PATH = "/api/cron/fetch-data"
CORS_PARAMETER = "CorsAllowedOrigins"


def cache_policy_config(raw: dict, behaviour: dict) -> tuple[str | None, dict]:
    policy = ref_id(behaviour.get("CachePolicyId"))
    return policy, props_of(raw, policy).get("CachePolicyConfig", {})


def check_get_cache_key(raw: dict, policy: str, policy_config: dict) -> bool:
    """No client-chosen header in a GET behaviour's cache key: Origin only where CORS is
    configured. False when the key cannot be worked out (reported)."""
    keyed = policy_config.get("ParametersInCacheKeyAndForwardedToOrigin", {}).get("HeadersConfig", {})
    for label, cors in (("defaults", ""), (f"{CORS_PARAMETER} set", "https://app.example")):
        params = dict(defaults(raw), **{CORS_PARAMETER: cors})
        try:
            headers = with_conditions(keyed, raw, params)
        except Unresolved as exc:
            error(f"{policy}: its cache key's headers cannot be worked out from parameters ({exc})")
            return False
        listed = [] if headers.get("HeaderBehavior", "none") == "none" else as_list(headers.get("Headers"))
        allowed = {"origin"} if cors else set()
        for header in listed:
            if str(header).lower() not in allowed:
                error(f"{policy}: header {header} is in the GET cache key with {label}; a client that picks its "
                      f"value makes every request a miss (only Origin, and only where CORS is configured)")
        if headers.get("HeaderBehavior", "none") not in ("none", "whitelist"):
            error(f"{policy}: HeaderBehavior {headers.get('HeaderBehavior')!r} with {label}; list the headers")
    return True


def check_edge_abuse(raw: dict) -> None:
    """What one client can make the origin do: no client-chosen header in the GET cache key
    (Origin only where CORS is configured), the cron route on a behaviour of its own that
    forwards Authorization and caches nothing, and a per-IP rate-based WAF rule on at the
    defaults wherever the stack can hold one (us-east-1), without failing elsewhere."""
    found = api_behaviour(raw)
    if not found:
        return
    name, config, behaviour = found
    behaviours = config.get("CacheBehaviors", [])
    cron = [b for b in behaviours if fnmatch.fnmatchcase(CRON_PATH, str(b.get("PathPattern", "")))]
    # Every behaviour of the API's origin but the cron route's serves GETs (/api/*, /api/market*).
    reads = [b for b in behaviours
             if b.get("TargetOriginId") == behaviour.get("TargetOriginId") and not (cron and b is cron[0])]
    for read in reads:
        if not check_get_cache_key(raw, *cache_policy_config(raw, read)):
            return
    # The cron behaviour: before /api/*, the same origin, POST allowed, Authorization in its
    # key so that it is forwarded, nothing cached.
    if not cron or cron[0] is behaviour:
        error(f"{name}: no behaviour for {CRON_PATH} before /api/*; the cron route needs one of its own "
              f"that forwards Authorization and caches nothing (no Authorization in the GET cache key)")
        return
    cron_behaviour = cron[0]
    cron_policy, cron_config = cache_policy_config(raw, cron_behaviour)
    cron_headers = cron_config.get("ParametersInCacheKeyAndForwardedToOrigin", {}).get("HeadersConfig", {})
    if cron_behaviour.get("TargetOriginId") != behaviour.get("TargetOriginId") \
            or "POST" not in as_list(cron_behaviour.get("AllowedMethods")):
        error(f"{name}: the {CRON_PATH} behaviour must allow POST to the API origin")
    if "authorization" not in [str(h).lower() for h in as_list(cron_headers.get("Headers"))] \
            or cron_config.get("DefaultTTL") != 0 or cron_config.get("MinTTL", 0) != 0 \
            or not isinstance(cron_config.get("MaxTTL"), int) or cron_config["MaxTTL"] > 1:
        error(f"{cron_policy}: the cron behaviour's cache policy must key on Authorization (so CloudFront "
              f"forwards it) and cache nothing (MinTTL and DefaultTTL 0, MaxTTL at most 1)")
    # WAF: at the defaults in us-east-1, a web ACL on the distribution with a per-IP rate rule.
    params = defaults(raw)
    try:
        acl = with_conditions({"id": config.get("WebACLId", NO_VALUE)}, raw, params).get("id")
    except Unresolved as exc:
        error(f"{name}: WebACLId cannot be worked out from parameters ({exc})")
        return
    acl_id = acl.get("Fn::GetAtt", [None])[0] if isinstance(acl, dict) else None
    acls = active_resources(raw, params, "AWS::WAFv2::WebACL")
    rules = with_conditions(acls.get(acl_id, {}).get("Properties", {}).get("Rules", []), raw, params) \
        if acl_id in acls else []
    if not any(r.get("Statement", {}).get("RateBasedStatement", {}).get("AggregateKeyType") == "IP"
               and "Block" in r.get("Action", {}) for r in rules):
        error(f"{name}: at the defaults in us-east-1 no WAF web ACL with a per-IP rate-based Block rule is "
              f"attached; one client could then make every cache miss reach the API's throttle")
    for region in ("eu-west-1", "us-east-1"):
        for rule_name, rule in raw.get("Rules", {}).items():
            try:
                where = dict(params, **{"AWS::Region": region})
                fires = evaluate(rule.get("RuleCondition", True), raw, where)
                holds = all(evaluate(a.get("Assert"), raw, where) for a in rule.get("Assertions", []))
            except Unresolved:
                continue
            if fires and not holds:
                error(f"Rules.{rule_name}: fails a deploy at the defaults in {region}; the defaults must "
                      f"deploy in every region (the WAF only where it can be)")


def check_edge_logs(raw: dict) -> None:
    """Every request to the distribution is logged (CloudFront standard logging) into a bucket
    of this template that expires the logs, and that CloudFront can write (ACLs on)."""
    for name, res in of_type(raw, "AWS::CloudFront::Distribution").items():
        logging = res.get("Properties", {}).get("DistributionConfig", {}).get("Logging", {})
        target = logging.get("Bucket") if isinstance(logging, dict) else None
        bucket = target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else None
        if raw.get("Resources", {}).get(bucket or "", {}).get("Type") != "AWS::S3::Bucket":
            error(f"{name}: no standard logging to a bucket of this template (DistributionConfig.Logging.Bucket: "
                  f"!GetAtt <bucket>.DomainName); without it an attack leaves no trace of who sent it")
            continue
        p = props_of(raw, bucket)
        rules = p.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(r.get("Status") == "Enabled" and "ExpirationInDays" in r for r in rules):
            error(f"{bucket}: CloudFront's log bucket needs an enabled lifecycle rule with ExpirationInDays "
                  f"(a retention)")
        owners = [r.get("ObjectOwnership") for r in p.get("OwnershipControls", {}).get("Rules", [])]
        if "BucketOwnerEnforced" in owners or not owners:
            error(f"{bucket}: CloudFront standard logging writes with an ACL; set ObjectOwnership "
                  f"BucketOwnerPreferred (BucketOwnerEnforced turns ACLs off)")


def check_api_alarms(raw: dict) -> None:
    """Every API function's failures, counted from the API's access log (one line per request,
    whatever function served it), each kind by a metric filter with an alarm on its first count."""
    alarms = [a.get("Properties", {}) for a in of_type(raw, "AWS::CloudWatch::Alarm").values()]
    for api, res in of_type(raw, "AWS::Serverless::HttpApi").items():
        settings = res.get("Properties", {}).get("AccessLogSettings", {})
        dest = settings.get("DestinationArn")
        group = dest.get("Fn::GetAtt", [None])[0] if isinstance(dest, dict) else None
        try:
            fields = {v: k for k, v in json.loads(settings.get("Format", "")).items()}
        except (TypeError, ValueError, AttributeError):
            fields = {}
        for kind, (variable, pattern) in API_FAILURES.items():
            if variable not in fields:
                error(f"{api}: its JSON access log must record {variable} (the API function {kind} alarm counts it)")
                continue
            wanted = pattern.format(fields[variable])
            metrics = {(json.dumps(m.get("MetricNamespace")), m.get("MetricName"))
                       for f in of_type(raw, "AWS::Logs::MetricFilter").values()
                       if ref_id(f.get("Properties", {}).get("LogGroupName")) == group
                       and wanted in " ".join(str(f["Properties"].get("FilterPattern", "")).split())
                       for m in as_list(f["Properties"].get("MetricTransformations"))}
            if not metrics:
                error(f"{api}: no metric filter on its access log ({group}) counts API function {kind} ({wanted})")
            elif not any((json.dumps(a.get("Namespace")), a.get("MetricName")) in metrics and a.get("Threshold") == 0
                         and a.get("ComparisonOperator") == "GreaterThanThreshold" and a.get("Statistic") == "Sum"
                         for a in alarms):
                error(f"no alarm fires on the first of the API function {kind} counted from {api}'s access log "
                      f"(Sum > 0 of {sorted(m for _, m in metrics)})")


# --- read functions' security group -------------------------------------------------------------

def group_rules(raw: dict, group: str, direction: str) -> list[dict]:
    """Inline and separate rules of a security group; direction is Egress or Ingress."""
    rules = [dict(r) for r in props_of(raw, group).get(f"SecurityGroup{direction}", [])]
    for name, res in of_type(raw, f"AWS::EC2::SecurityGroup{direction}").items():
        if ref_id(res.get("Properties", {}).get("GroupId")) == group:
            rules.append(dict(res["Properties"], _resource=name, _condition=res.get("Condition")))
    return rules


def groups_of(props: dict) -> list:
    return as_list(props.get("VpcConfig", {}).get("SecurityGroupIds"))


def check_read_security_group(raw: dict, by_binary) -> None:
    def groups(type_, key, where=lambda r: True):
        return {ref_id(g) for r in of_type(raw, type_).values() if where(r)
                for g in as_list(r.get("Properties", {}).get(key))}
    database_groups = groups("AWS::RDS::DBInstance", "VPCSecurityGroups")
    proxy_groups = groups("AWS::RDS::DBProxy", "VpcSecurityGroupIds")
    endpoint_groups = groups("AWS::EC2::VPCEndpoint", "SecurityGroupIds",
                             lambda r: "secretsmanager" in json.dumps(r.get("Properties", {}).get("ServiceName")))
    users: dict[str, set[str]] = {}  # security group -> functions that are not read functions
    for binary, (name, res) in by_binary.items():
        if binary not in READ_BINARIES:
            for g in groups_of(res["Properties"]):
                users.setdefault(ref_id(g), set()).add(name)
    read_groups: set[str] = set()
    for binary in sorted(READ_BINARIES & set(by_binary)):
        name, res = by_binary[binary]
        ids = [ref_id(g) for g in groups_of(res["Properties"])]
        if len(ids) != 1 or not ids[0]:
            error(f"{name}: a read function needs exactly one security group, the read-only one "
                  f"(after SAM's Globals merge it has {json.dumps(groups_of(res['Properties']))})")
            continue
        if ids[0] in users:
            error(f"{name}: its security group {ids[0]} is shared with {sorted(users[ids[0]])}; "
                  f"read functions need a group of their own")
        read_groups.add(ids[0])
    if len(read_groups) > 1:
        error(f"the read functions use different security groups {sorted(read_groups)}; give them one")
    for group in sorted(read_groups):
        if raw.get("Resources", {}).get(group, {}).get("Type") != "AWS::EC2::SecurityGroup":
            error(f"read functions' security group {group} is not an AWS::EC2::SecurityGroup of this template")
            continue
        if not props_of(raw, group).get("SecurityGroupEgress"):
            error(f"{group}: needs an inline SecurityGroupEgress; without one AWS adds allow-all egress")
        for rule in group_rules(raw, group, "Egress"):
            where = f"{group} egress {rule.get('_resource') or rule.get('Description', '')!r}"
            cidr = rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("DestinationPrefixListId")
            if cidr:
                error(f"{where}: to {cidr}; read functions may only reach the database/proxy and "
                      f"Secrets Manager endpoint groups (no 0.0.0.0/0)")
                continue
            target = ref_id(rule.get("DestinationSecurityGroupId"))
            port = (rule.get("FromPort"), rule.get("ToPort"))
            if str(rule.get("IpProtocol")) != "tcp":
                error(f"{where}: protocol {rule.get('IpProtocol')!r}; only tcp")
            elif not ((port == (POSTGRES_PORT, POSTGRES_PORT) and target in database_groups | proxy_groups)
                    or (port == (443, 443) and target in endpoint_groups)):
                error(f"{where}: ports {port} to {target}; only {POSTGRES_PORT} to the database/proxy "
                      f"group and 443 to the Secrets Manager endpoint group")
                continue
            if not any(ref_id(i.get("SourceSecurityGroupId")) == group and (i.get("FromPort"), i.get("ToPort")) == port
                       and i.get("_condition") in (None, rule.get("_condition"))
                       for i in group_rules(raw, target, "Ingress")):
                error(f"{target}: does not admit {group} on port {port[0]} (its egress rule {where})")


# --- connection budget --------------------------------------------------------------------------

def number(node, raw: dict, params: dict, what: str):
    try:
        return int(evaluate(node, raw, params))
    except (Unresolved, TypeError, ValueError):
        error(f"{what}: {json.dumps(node)} is not a number at the parameters' defaults")
        return None


def doc_section(root: Path, heading: str) -> str:
    """The text under a heading of docs/deploy.md ('' if it is not there)."""
    path = root / "docs" / "deploy.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = re.search(rf"^#+ {heading}\b.*?\n(.*?)(?=^#)", text, re.M | re.S)
    return found.group(1) if found else ""


def table_rows(section: str):
    """The cells of each table row of a section; the first one without * and `, lower case."""
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            yield re.sub(r"[*`]", "", cells[0]).strip().lower(), cells


def check_connection_budget(raw: dict, by_binary, root: Path) -> None:
    params = defaults(raw)
    db_class = params.get("DbInstanceClass")
    planned = PLANNED_MAX_CONNECTIONS.get(db_class)
    if planned is None:
        error(f"DbInstanceClass default {db_class!r} has no planned max_connections here; add it to "
              f"PLANNED_MAX_CONNECTIONS and to docs/deploy.md's budget")
        return
    if any(b not in by_binary for b in EXPECTED_FUNCTIONS):
        return

    def consumer(binary):  # (containers, connections each); migrate: one invocation per deploy
        name, res = by_binary[binary]
        props = res.get("Properties", {})
        pool = props.get("Environment", {}).get("Variables", {}).get("DB_POOL_MAX_SIZE")
        if pool is None:
            error(f"{name}: DB_POOL_MAX_SIZE must be set (the connection budget counts it)")
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved is None and binary != "migrate":
            error(f"{name}: ReservedConcurrentExecutions must be set (it bounds the function's "
                  f"database connections; docs/deploy.md \"Database connection budget\")")
        count = 1 if reserved is None and binary == "migrate" else \
            None if reserved is None else number(reserved, raw, params, f"{name}.ReservedConcurrentExecutions")
        return count, None if pool is None else number(pool, raw, params, f"{name}.DB_POOL_MAX_SIZE")

    reads = [consumer(b) for b in sorted(READ_BINARIES)]
    others = {b: consumer(b) for b in ("cron-trigger", "ingest", "live-quotes", "migrate")}
    if any(c is None or p is None for c, p in reads + list(others.values())):
        return
    usable = planned - SUPERUSER_RESERVED
    line = dict({"read functions": sum(c * p for c, p in reads)}, **{b: c * p for b, (c, p) in others.items()},
                **{"secret rotation": ROTATION_CONNECTIONS})
    headroom = usable - sum(line.values())
    if headroom < OPERATOR_HEADROOM:
        error(f"connection budget on {db_class}: {usable} usable (max_connections {planned} - "
              f"{SUPERUSER_RESERVED} reserved) - {line} leaves {headroom}, under the "
              f"{OPERATOR_HEADROOM} kept for operators; lower ReadFunctionReservedConcurrency")
    # The largest per-function read concurrency that fits, against the template's rule.
    fits = None
    if len({p for _, p in reads}) == 1:
        fits = (usable - OPERATOR_HEADROOM - sum(line.values()) + line["read functions"]) // (len(reads) * reads[0][1])
        allowed = None
        for rule in raw.get("Rules", {}).values():
            for a in rule.get("Assertions", []):
                c = a.get("Assert", {}).get("Fn::Contains")
                if c and ref_id(c[1]) == "ReadFunctionReservedConcurrency":
                    allowed = {int(v) for v in c[0]}
        if allowed is None:
            error("no template rule bounds ReadFunctionReservedConcurrency on a micro instance class")
        elif allowed != set(range(1, fits + 1)):
            error(f"the rule on ReadFunctionReservedConcurrency allows {sorted(allowed)}; the budget "
                  f"allows 1..{fits}")
    # With RDS Proxy the proxy's pool is the bound; what connects directly still has to fit.
    for name, res in of_type(raw, "AWS::RDS::DBProxyTargetGroup").items():
        pct = res.get("Properties", {}).get("ConnectionPoolConfigurationInfo", {}).get("MaxConnectionsPercent")
        if not isinstance(pct, int):
            error(f"{name}: set ConnectionPoolConfigurationInfo.MaxConnectionsPercent (the proxy's share)")
            continue
        proxy, direct = planned * pct // 100, line["migrate"] + line["secret rotation"]
        if proxy + direct + OPERATOR_HEADROOM > usable:
            error(f"{name}: with RDS Proxy, {proxy} proxy connections ({pct}% of {planned}) + {direct} "
                  f"direct + {OPERATOR_HEADROOM} for operators exceed the {usable} usable")
    # docs/deploy.md shows the same numbers.
    table = {label: int(m.group(1)) for label, cells in table_rows(doc_section(root, "Database connection budget"))
             if len(cells) >= 2 and (m := re.fullmatch(r"[*\s]*[-−]?\s*(\d+)[*\s]*", cells[1]))}
    if not table:
        error("docs/deploy.md has no \"Database connection budget\" table")
        return
    expected = dict(line, usable=usable, headroom=headroom)
    if fits is not None:
        expected["largest readfunctionreservedconcurrency"] = fits
    for key, value in expected.items():
        rows = [v for label, v in table.items() if label.startswith(key)]
        if rows != [value]:
            error(f"docs/deploy.md budget table: the row starting {key!r} should say {value}, "
                  f"found {rows or 'none'}")


# --- network: egress paths and the database's isolation ----------------------------------------

# The functions that call the internet: ingest and live-quotes (CoinGecko), cron-trigger (the
# Lambda API), and the SDK variables that send cron-trigger's Lambda calls to the API's
# dual-stack name (its default name, lambda.<region>.amazonaws.com, has IPv4 addresses only).
INTERNET_BINARIES = {"ingest", "live-quotes", "cron-trigger"}
LAMBDA_DUALSTACK_ENV = ("AWS_ENDPOINT_URL_LAMBDA", "AWS_USE_DUALSTACK_ENDPOINT")
EGRESS_MODE_PARAMETER = "EgressMode"
CHEAP_EGRESS_MODE = "ipv6"


def egress_variants(raw: dict) -> list[tuple[str, dict]]:
    """(label, parameters) for the defaults and for each allowed EgressMode."""
    base = defaults(raw)
    modes = raw.get("Parameters", {}).get(EGRESS_MODE_PARAMETER, {}).get("AllowedValues", [])
    return [("defaults", base)] + [(f"{EGRESS_MODE_PARAMETER}={m}", dict(base, **{EGRESS_MODE_PARAMETER: m}))
                                   for m in modes]


def route_tables_of(raw: dict, params: dict, subnet: str) -> set[str]:
    return {ref_id(a["Properties"].get("RouteTableId"))
            for a in active_resources(raw, params, "AWS::EC2::SubnetRouteTableAssociation").values()
            if ref_id(a.get("Properties", {}).get("SubnetId")) == subnet}


def routes_of(raw: dict, params: dict, table: str) -> list[tuple[str, dict]]:
    return [(n, with_conditions(r.get("Properties", {}), raw, params))
            for n, r in active_resources(raw, params, "AWS::EC2::Route").items()
            if ref_id(r.get("Properties", {}).get("RouteTableId")) == table]


def route_target_type(raw: dict, route: dict) -> str | None:
    """The resource type a route sends to (internet gateway, egress-only, NAT, ...)."""
    for key in ("GatewayId", "EgressOnlyInternetGatewayId", "NatGatewayId", "InstanceId",
                "NetworkInterfaceId", "TransitGatewayId", "VpcPeeringConnectionId"):
        if route.get(key):
            return raw.get("Resources", {}).get(ref_id(route[key]) or "", {}).get("Type", key)
    return None


def https_egress(raw: dict, params: dict, groups: list[str], family: str) -> bool:
    """Whether one of the groups allows TCP 443 to any address of the family (4 or 6)."""
    key, anywhere = ("CidrIp", "0.0.0.0/0") if family == "4" else ("CidrIpv6", "::/0")
    for rule in (r for g in groups for r in group_rules(raw, g, "Egress")):
        try:
            if rule.get("_condition") and not condition(rule["_condition"], raw, params):
                continue
        except Unresolved:
            continue
        low, high, protocol = rule.get("FromPort"), rule.get("ToPort"), str(rule.get("IpProtocol"))
        if rule.get(key) == anywhere and (protocol == "-1" or (protocol in ("tcp", "6") and isinstance(low, int)
                                                                and isinstance(high, int) and low <= 443 <= high)):
            return True
    return False


def internet_paths(raw: dict, params: dict, vpc: dict) -> set[str]:
    """The address families ("IPv4", "IPv6") a function with this VpcConfig reaches the internet with."""
    subnets = [ref_id(s) for s in as_list(vpc.get("SubnetIds"))]
    groups = [ref_id(g) for g in as_list(vpc.get("SecurityGroupIds"))]
    if not subnets or None in subnets:
        return set()
    routes = [[r for t in route_tables_of(raw, params, s) for _, r in routes_of(raw, params, t)] for s in subnets]

    def everywhere(dest_key, dest, targets):
        return all(any(r.get(dest_key) == dest and route_target_type(raw, r) in targets for r in rs) for rs in routes)
    paths = set()
    if https_egress(raw, params, groups, "4") and everywhere(
            "DestinationCidrBlock", "0.0.0.0/0", ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway")):
        paths.add("IPv4")
    has_ipv6 = [any(ref_id(b.get("Properties", {}).get("SubnetId")) == s
                    for b in active_resources(raw, params, "AWS::EC2::SubnetCidrBlock").values())
                or bool(props_of(raw, s).get("Ipv6CidrBlock") or props_of(raw, s).get("Ipv6Native")) for s in subnets]
    if evaluate(vpc.get("Ipv6AllowedForDualStack", False), raw, params) is True and all(has_ipv6) \
            and https_egress(raw, params, groups, "6") and everywhere(
            "DestinationIpv6CidrBlock", "::/0", ("AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::InternetGateway")):
        paths.add("IPv6")
    return paths


def check_egress_defaults(raw: dict) -> None:
    """The cost-relevant defaults: the egress without hourly charge, a Multi-AZ database."""
    params = raw.get("Parameters", {})
    spec = params.get(EGRESS_MODE_PARAMETER)
    if not isinstance(spec, dict) or spec.get("Default") != CHEAP_EGRESS_MODE \
            or "nat-gateway" not in spec.get("AllowedValues", []):
        shown = {k: v for k, v in spec.items() if k in ("Default", "AllowedValues")} if isinstance(spec, dict) else spec
        error(f"parameter {EGRESS_MODE_PARAMETER} must default to {CHEAP_EGRESS_MODE} (no hourly charge) and "
              f"allow nat-gateway (the IPv4 fallback), got {json.dumps(shown)}")
    if str(params.get("DbMultiAz", {}).get("Default")) != "true":
        error("parameter DbMultiAz must default to \"true\" (a standby in the second AZ, as the original); "
              "\"false\" is for test stacks")
    for type_ in ("AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        for name in active_resources(raw, defaults(raw), type_):
            error(f"{name} ({type_}) exists at the parameters' defaults; it has an hourly charge, "
                  f"so it must exist only with {EGRESS_MODE_PARAMETER}=nat-gateway (a Condition)")
    if not active_resources(raw, dict(defaults(raw), **{EGRESS_MODE_PARAMETER: "nat-gateway"}), "AWS::EC2::NatGateway"):
        error(f"no AWS::EC2::NatGateway exists with {EGRESS_MODE_PARAMETER}=nat-gateway; keep that egress "
              f"available for when IPv6 fails")


def check_network(raw: dict, by_binary) -> None:
    if EGRESS_MODE_PARAMETER not in raw.get("Parameters", {}):
        return
    # The database: IPv4-only, and none of its subnets public or routed to an internet gateway.
    for name, db in of_type(raw, "AWS::RDS::DBInstance").items():
        p = db.get("Properties", {})
        if p.get("NetworkType", "IPV4") != "IPV4":
            error(f"{name}: NetworkType {p['NetworkType']!r}; the database must stay IPv4-only (its "
                  f"subnets send IPv6 to the internet)")
        for subnet in [ref_id(s) for s in as_list(props_of(raw, ref_id(p.get("DBSubnetGroupName"))).get("SubnetIds"))]:
            if props_of(raw, subnet).get("MapPublicIpOnLaunch") is True:
                error(f"{subnet}: a database subnet that gives public IPv4 addresses")
            for label, params in egress_variants(raw):
                for table in sorted(filter(None, route_tables_of(raw, params, subnet))):
                    for route, r in routes_of(raw, params, table):
                        if route_target_type(raw, r) == "AWS::EC2::InternetGateway":
                            error(f"{route}: routes the database's subnet {subnet} to an internet gateway "
                                  f"({label}); its subnets must stay private")
    for label, params in egress_variants(raw):
        for binary, (name, res) in sorted(by_binary.items()):
            props = res.get("Properties", {})
            try:
                vpc = with_conditions(props.get("VpcConfig", {}), raw, params)
                ipv6_allowed = evaluate(vpc.get("Ipv6AllowedForDualStack", False), raw, params)
                paths = internet_paths(raw, params, vpc)
            except Unresolved as exc:
                error(f"{name}: its VpcConfig cannot be worked out from parameters ({exc})")
                continue
            if binary not in INTERNET_BINARIES:
                if ipv6_allowed is True:
                    error(f"{name}: Ipv6AllowedForDualStack with {label}; only "
                          f"{sorted(INTERNET_BINARIES)} call the internet")
            elif not paths:
                error(f"{name}: no path to the internet with {label}: needs 443 egress in its security "
                      f"group and, in every subnet, a 0.0.0.0/0 route to a NAT gateway, or an IPv6 range, "
                      f"a ::/0 route to an egress-only internet gateway and Ipv6AllowedForDualStack")
            elif binary == "cron-trigger" and paths == {"IPv6"}:
                env = with_conditions(props.get("Environment", {}).get("Variables", {}), raw, params)
                if not (".api.aws" in json.dumps(env.get(LAMBDA_DUALSTACK_ENV[0]))
                        or str(env.get(LAMBDA_DUALSTACK_ENV[1])).lower() == "true"):
                    error(f"{name}: reaches the internet over IPv6 only with {label}, but the Lambda API's "
                          f"default name has IPv4 addresses only; set {LAMBDA_DUALSTACK_ENV[0]} to "
                          f"https://lambda.<region>.api.aws")
            if binary == "migrate":  # answers CloudFormation's pre-signed S3 URL (an IPv4-only name)
                tables = {t for s in as_list(vpc.get("SubnetIds")) for t in route_tables_of(raw, params, ref_id(s))}
                served = {ref_id(t) for e in active_resources(raw, params, "AWS::EC2::VPCEndpoint").values()
                          if e.get("Properties", {}).get("VpcEndpointType") == "Gateway"
                          and ".s3" in json.dumps(e.get("Properties", {}).get("ServiceName"))
                          for t in as_list(e.get("Properties", {}).get("RouteTableIds"))}
                if not tables or not tables <= served:
                    error(f"{name}: with {label} the route tables of its subnets {sorted(filter(None, tables))} "
                          f"have no S3 gateway endpoint; it answers CloudFormation's pre-signed S3 URL through it")


# --- egress of the functions that are not read functions, the S3 endpoint, the proxy's logins --

# The response bucket of CloudFormation's pre-signed custom-resource URLs (one per region).
CFN_RESPONSE_BUCKETS = "arn:aws:s3:::cloudformation-custom-resource-response-"


def cidr_rules(raw: dict, params: dict, group: str) -> list[tuple[str, str]]:
    """(where, destination) of each egress rule of group to an address range, under params."""
    found = []
    for rule in group_rules(raw, group, "Egress"):
        try:
            if rule.get("_condition") and not condition(rule["_condition"], raw, params):
                continue
        except Unresolved:
            pass
        dest = rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("DestinationPrefixListId")
        if dest and not (rule.get("CidrIp") == "255.255.255.255/32" and str(rule.get("IpProtocol")) == "icmp"):
            found.append((rule.get("_resource") or rule.get("Description", ""), json.dumps(dest).strip('"')))
    return found


def check_least_egress(raw: dict, by_binary) -> None:
    """Each group no wider than what its functions call: the rotation Lambdas (owner and every
    password) reach only the database and the Secrets Manager endpoint; migrate no IPv6 and no
    group with the internet callers; cron-trigger (the Lambda API) a group of its own, without
    IPv4 to anywhere at the defaults; the S3 gateway endpoint only CloudFormation's response
    bucket; the RDS Proxy no owner login."""
    params = defaults(raw)
    groups = {b: [ref_id(g) for g in groups_of(res["Properties"])] for b, (_, res) in by_binary.items()}
    coingecko = {g for b in ("ingest", "live-quotes") for g in groups.get(b, [])}
    for binary in ("migrate", "cron-trigger"):
        if binary not in by_binary:
            continue
        name = by_binary[binary][0]
        shared = sorted(set(groups[binary]) & coingecko)
        if shared:
            error(f"{name}: shares {shared} with ingest/live-quotes, whose group reaches the internet; give it "
                  f"a group with only what it calls")
        for group in groups[binary]:
            for where, dest in cidr_rules(raw, params, group):
                if binary == "migrate" and ":" in dest:
                    error(f"{group} egress {where!r}: to {dest}; migrate calls nothing over IPv6")
                if binary == "cron-trigger" and dest == "0.0.0.0/0":
                    error(f"{group} egress {where!r}: to {dest} at the defaults; cron-trigger calls the Lambda "
                          f"API over IPv6 there (IPv4 only with {EGRESS_MODE_PARAMETER}=nat-gateway)")
    for schedule, res in of_type(raw, "AWS::SecretsManager::RotationSchedule").items():
        hosted = res.get("Properties", {}).get("HostedRotationLambda", {})
        for group in [ref_id(g) or json.dumps(g) for g in as_list(hosted.get("VpcSecurityGroupIds"))]:
            for where, dest in cidr_rules(raw, params, group):
                error(f"{schedule}: its rotation Lambda's group {group} has egress {where!r} to {dest}; "
                      f"it calls only the database and the Secrets Manager endpoint")
    for name, res in active_resources(raw, params, "AWS::EC2::VPCEndpoint").items():
        p = res.get("Properties", {})
        if p.get("VpcEndpointType") != "Gateway" or ".s3" not in json.dumps(p.get("ServiceName")):
            continue
        allows = [st for _, st in walk_statements(p.get("PolicyDocument", {}), name) if st.get("Effect") == "Allow"]
        try:
            resources = [evaluate(r, raw, params) for st in allows for r in as_list(st.get("Resource"))]
        except Unresolved:
            resources = [None]
        if not allows or not all(isinstance(r, str) and r.startswith(CFN_RESPONSE_BUCKETS) for r in resources) \
                or {a for st in allows for a in as_list(st.get("Action"))} != {"s3:PutObject"}:
            error(f"{name}: the S3 gateway endpoint needs a policy allowing only s3:PutObject on "
                  f"{CFN_RESPONSE_BUCKETS}* (the custom-resource answers), so nothing in the VPC reaches "
                  f"other buckets through it")
    for name, res in of_type(raw, "AWS::RDS::DBProxy").items():
        logins = [ref_id(a.get("SecretArn")) for a in as_list(res.get("Properties", {}).get("Auth"))]
        if OWNER_SECRET in logins:
            error(f"{name}: accepts the owner login ({OWNER_SECRET}); only the application roles go through "
                  f"the proxy (migrate connects to the instance)")


# --- fixed monthly cost -------------------------------------------------------------------------

# USD, us-east-1 on demand; docs/deploy.md "Costs" names the date and the source.
HOURS_PER_MONTH = 730
RDS_INSTANCE_HOUR = {"db.t4g.micro": 0.016, "db.t3.micro": 0.018}  # single-AZ; Multi-AZ doubles
RDS_VCPUS = {"db.t4g.micro": 2, "db.t3.micro": 2}
RDS_STORAGE_GB_MONTH = 0.115  # gp3, single-AZ; Multi-AZ doubles
INTERFACE_ENDPOINT_AZ_HOUR = 0.01
NAT_GATEWAY_HOUR = 0.045
PUBLIC_IPV4_HOUR = 0.005
SECRET_MONTH = 0.40
ALARM_METRIC_MONTH = 0.10
RDS_PROXY_VCPU_HOUR = 0.015
WAF_WEB_ACL_MONTH = 5.00
WAF_RULE_MONTH = 1.00
# Types with no charge while idle (or only per request, per GB, per invocation): the cost model
# leaves them out. A type in neither list fails the check until someone classifies it.
PRICED_TYPES = {"AWS::RDS::DBInstance", "AWS::EC2::VPCEndpoint", "AWS::EC2::NatGateway", "AWS::EC2::EIP",
                "AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm", "AWS::RDS::DBProxy",
                "AWS::WAFv2::WebACL"}
UNPRICED_TYPES = {
    "AWS::CloudFormation::CustomResource", "AWS::CloudFront::CachePolicy", "AWS::CloudFront::Distribution",
    "AWS::CloudFront::Function", "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::OriginRequestPolicy", "AWS::EC2::EgressOnlyInternetGateway",
    "AWS::EC2::InternetGateway", "AWS::EC2::Route", "AWS::EC2::RouteTable", "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::Subnet",
    "AWS::EC2::SubnetCidrBlock", "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::VPC",
    "AWS::EC2::VPCCidrBlock", "AWS::EC2::VPCGatewayAttachment", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role",
    "AWS::Logs::LogGroup", "AWS::Logs::MetricFilter", "AWS::RDS::DBParameterGroup",
    "AWS::RDS::DBProxyTargetGroup", "AWS::RDS::DBSubnetGroup", "AWS::S3::Bucket", "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription", "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::SecretsManager::RotationSchedule",
    "AWS::SecretsManager::SecretTargetAttachment", "AWS::Serverless::Function",
    "AWS::Serverless::HttpApi", "AWS::Serverless::LayerVersion",
}


def fixed_monthly_cost(raw: dict, params: dict) -> float | None:
    """The template's charges that do not depend on traffic, under params, in USD a month."""
    total = 0.0
    for name, res in raw.get("Resources", {}).items():
        type_ = res.get("Type")
        if type_ not in PRICED_TYPES:
            continue
        try:
            if "Condition" in res and not condition(res["Condition"], raw, params):
                continue
            p = with_conditions(res.get("Properties", {}), raw, params)
            if type_ == "AWS::RDS::DBInstance":
                db_class = evaluate(p.get("DBInstanceClass"), raw, params)
                if db_class not in RDS_INSTANCE_HOUR:
                    error(f"{name}: instance class {db_class!r} has no price in check_template.py's cost model")
                    return None
                copies = 2 if evaluate(p.get("MultiAZ", False), raw, params) in (True, "true") else 1
                storage = int(evaluate(p.get("AllocatedStorage"), raw, params))
                total += copies * (RDS_INSTANCE_HOUR[db_class] * HOURS_PER_MONTH + storage * RDS_STORAGE_GB_MONTH)
            elif type_ == "AWS::EC2::VPCEndpoint" and p.get("VpcEndpointType") == "Interface":
                total += len(as_list(p.get("SubnetIds"))) * INTERFACE_ENDPOINT_AZ_HOUR * HOURS_PER_MONTH
            elif type_ in ("AWS::EC2::NatGateway", "AWS::EC2::EIP"):
                total += (NAT_GATEWAY_HOUR if type_ == "AWS::EC2::NatGateway" else PUBLIC_IPV4_HOUR) * HOURS_PER_MONTH
            elif type_ == "AWS::SecretsManager::Secret":
                total += SECRET_MONTH
            elif type_ == "AWS::CloudWatch::Alarm":  # a metric-math alarm pays for each metric
                total += len([m for m in as_list(p.get("Metrics")) if "MetricStat" in m] if "Metrics" in p else [p]) \
                    * ALARM_METRIC_MONTH
            elif type_ == "AWS::RDS::DBProxy":
                total += RDS_VCPUS.get(params.get("DbInstanceClass"), 2) * RDS_PROXY_VCPU_HOUR * HOURS_PER_MONTH
            elif type_ == "AWS::WAFv2::WebACL":
                total += WAF_WEB_ACL_MONTH + len(as_list(p.get("Rules"))) * WAF_RULE_MONTH
        except (Unresolved, TypeError, ValueError) as exc:
            error(f"{name}: its monthly cost cannot be worked out from parameters ({exc})")
            return None
    return round(total, 2)


def money(cell: str) -> float | None:
    m = re.search(r"[-−+]?\d[\d,]*\.\d\d", cell.replace("**", ""))
    return float(m.group(0).replace(",", "").replace("−", "-")) if m else None


def check_costs(raw: dict, root: Path) -> float | None:
    """Checks docs/deploy.md "Costs" (the fixed-cost table's total, and each options row whose
    first cell lists `Parameter=value`s); returns the fixed monthly cost at the defaults."""
    for name, res in raw.get("Resources", {}).items():
        if res.get("Type") not in PRICED_TYPES | UNPRICED_TYPES:
            error(f"{name}: resource type {res.get('Type')} is not in check_template.py's cost model "
                  f"(PRICED_TYPES or UNPRICED_TYPES); classify it and update docs/deploy.md \"Costs\"")
    base = defaults(raw)
    ours = fixed_monthly_cost(raw, base)
    if ours is None:
        return None
    rows = list(table_rows(doc_section(root, "Costs")))
    total = dict(rows).get("total")
    if not total or len(total) < 4 or money(total[2]) is None or money(total[3]) is None:
        error("docs/deploy.md has no \"Costs\" table with a total row (original, this stack at the defaults)")
        return ours
    original, documented = money(total[2]), money(total[3])
    if abs(documented - ours) > 0.005:
        error(f"docs/deploy.md cost table: the total at the defaults says {documented:.2f}; the template's "
              f"fixed charges at its defaults come to {ours:.2f}")
    if ours > original / 2:
        error(f"the fixed monthly cost at the defaults, {ours:.2f} USD, is more than half of the original "
              f"stack's {original:.2f} USD")
    for cells in (c for _, c in rows if re.fullmatch(r"(`\w+=[\w.-]+`[ ,+]*)+", c[0])):
        pairs = dict(re.findall(r"`(\w+)=([\w.-]+)`", cells[0]))
        unknown = sorted(set(pairs) - set(raw.get("Parameters", {})))
        if unknown:
            error(f"docs/deploy.md cost options: {cells[0]} sets {unknown}, which the template does not declare")
            continue
        value = fixed_monthly_cost(raw, dict(base, **pairs))
        shown = money(cells[3]) if len(cells) > 3 else None
        if value is not None and (shown is None or abs(shown - value) > 0.005):
            error(f"docs/deploy.md cost options: the total with {cells[0]} should say {value:.2f}, "
                  f"found {cells[3] if len(cells) > 3 else 'nothing'!r}")
    return ours


# --- following more coins ----------------------------------------------------------------------

# Measured by `make bench` ("1,000 tracked coins" in docs/benchmarks.md, `bench scale`): what a
# stored row takes with its share of the table's indexes, and a live refresh of every pair end to
# end (11 coins from the "Live refresh" section, 1,000 from `bench scale`). Update with the report.
HOURLY_ROW_BYTES = 187
DAILY_ROW_BYTES = 172
MARKET_ROW_BYTES = 5_300
LIVE_REFRESH_SECONDS = ((44, 0.011), (4_000, 1.63))  # (pairs, seconds): linear in between
CURRENCIES = 4
# A history run may take its whole timeout every day while a backfill lasts (an upper bound).
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1e6
SECRET_READ = 0.05 / 10_000
SECRET_READS_PER_RUN = 2  # the database and CoinGecko secrets, read once per cold container at most
RDS_MEMORY_MB = {"db.t4g.micro": 1024, "db.t3.micro": 1024}
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
FOLLOWED = (11, 100, 250, 1000)


def function_setting(by_binary, binary: str, key: str):
    """A merged property of the function that builds `binary`."""
    if binary not in by_binary:
        raise Unresolved(f"no function builds {binary}")
    return by_binary[binary][1]["Properties"].get(key)


def following_cost(raw: dict, params: dict, by_binary, coins: int) -> dict:
    """What following `coins` coins in 4 currencies adds to the fixed cost at `params`: storage
    growth a year and how many years the allocated volume lasts after the backfill, the hot
    working set (a week of hours and the market rows) against the instance's buffer cache, and
    the schedules' Lambda charges a month (upper bounds: every pair at every live refresh, each
    daily history run its whole timeout)."""
    pairs = coins * CURRENCIES
    (p0, s0), (p1, s1) = LIVE_REFRESH_SECONDS
    live_seconds = s0 + (s1 - s0) * (pairs - p0) / (p1 - p0)
    every = int(params["LiveQuotesEveryMinutes"])
    live_runs = DAYS_PER_MONTH * 24 * 60 / every if every else 0
    memory_gb = lambda binary: int(function_setting(by_binary, binary, "MemorySize")) / 1024
    ingest_seconds = int(function_setting(by_binary, "ingest", "Timeout"))
    gb_seconds = live_runs * live_seconds * memory_gb("live-quotes") \
        + DAYS_PER_MONTH * ingest_seconds * memory_gb("ingest")
    invocations = live_runs + DAYS_PER_MONTH
    lambda_usd = gb_seconds * LAMBDA_GB_SECOND + invocations * LAMBDA_REQUEST \
        + invocations * SECRET_READS_PER_RUN * SECRET_READ
    year_gb = pairs * (365 * 24 * HOURLY_ROW_BYTES + 365 * DAILY_ROW_BYTES) / 1e9
    # What the backfill stores at once: 90 days of hours and a year of days.
    backfill_gb = pairs * (90 * 24 * HOURLY_ROW_BYTES + 365 * DAILY_ROW_BYTES) / 1e9
    hot_mb = pairs * (7 * 24 * HOURLY_ROW_BYTES + MARKET_ROW_BYTES) / 1e6
    db_class = params["DbInstanceClass"]
    fixed = fixed_monthly_cost(raw, params) or 0.0
    return {
        "pairs": pairs, "year_gb": year_gb, "years": (int(params["DbAllocatedStorage"]) - backfill_gb) / year_gb,
        # RDS's default shared_buffers is a quarter of the instance's memory.
        "hot_mb": hot_mb, "buffers_mb": RDS_MEMORY_MB[db_class] / 4,
        "invocations": invocations, "gb_seconds": gb_seconds, "lambda": lambda_usd,
        "total": fixed + lambda_usd,
    }


def check_following(raw: dict, by_binary, root: Path, original: float | None) -> None:
    """docs/deploy.md "Following more coins": each row's figures are `following_cost`'s, and at
    1,000 coins the monthly bill stays within half of the original's fixed cost."""
    rows = {cells[0]: cells for _, cells in table_rows(doc_section(root, "Following more coins"))}
    params = defaults(raw)
    for coins in FOLLOWED:
        try:
            c = following_cost(raw, params, by_binary, coins)
        except (Unresolved, KeyError, TypeError, ValueError) as exc:
            error(f"following {coins} coins: the cost cannot be worked out ({exc})")
            return
        want = [f"{coins:,}", f"{c['pairs']:,}", f"{c['year_gb']:.2f}", f"{c['years']:.1f}",
                f"{c['hot_mb']:.0f} of {c['buffers_mb']:.0f}", f"{c['invocations']:,.0f}",
                f"{c['gb_seconds']:,.0f}", f"{c['lambda']:.2f}", f"{c['total']:.2f}"]
        got = [re.sub(r"[*`]", "", cell) for cell in rows.get(f"{coins:,}", [])]
        if got != want:
            error(f"docs/deploy.md \"Following more coins\": the row for {coins:,} coins should read "
                  f"| {' | '.join(want)} |, found {got or 'no row'}")
        if coins == max(FOLLOWED) and original and c["total"] > original / 2:
            error(f"following {coins:,} coins costs {c['total']:.2f} USD a month, over half of the original's "
                  f"{original:.2f}")


# --- samconfig.toml ------------------------------------------------------------------------------

SAMCONFIG_STACK_NAME = "crypto-dashboard"
SAMCONFIG_OVERRIDES = ("EnvironmentName", "CoinGeckoApiPlan", "AlarmEmail", "EnableRdsProxy", "EnableWaf")


def check_samconfig(path: Path, raw: dict) -> None:
    """samconfig.toml: the defaults `sam build/validate/deploy` run with."""
    tomllib = toml_module()
    if tomllib is None:
        return
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        error(f"{path} not found")
        return
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        error(f"{path} does not parse: {exc}")
        return

    def section(command: str) -> dict:
        value = cfg.get("default", {}).get(command, {}).get("parameters", {})
        return value if isinstance(value, dict) else {}

    deploy = section("deploy")
    if section("global").get("stack_name") != SAMCONFIG_STACK_NAME:
        error(f"default.global.parameters.stack_name must be {SAMCONFIG_STACK_NAME}")
    capabilities = deploy.get("capabilities", "")  # "A B" or ["A", "B"]
    if "CAPABILITY_IAM" not in (capabilities if isinstance(capabilities, list) else str(capabilities).split()):
        error("default.deploy.parameters.capabilities must include CAPABILITY_IAM")
    for where, key in (("deploy", "resolve_s3"), ("build", "parallel"), ("validate", "lint")):
        if section(where).get(key) is not True:
            error(f"default.{where}.parameters.{key} must be true")
    # Portable: no named AWS profile (each user's credential chain decides).
    for env, commands in cfg.items():
        for command, sect in (commands.items() if isinstance(commands, dict) else ()):
            if isinstance(sect, dict) and "profile" in sect.get("parameters", {}):
                error(f"{env}.{command}.parameters sets a profile")
    overrides = dict(re.findall(r'(\w+)=("[^"]*"|\S*)', str(deploy.get("parameter_overrides", ""))))
    for key in SAMCONFIG_OVERRIDES:
        if key not in overrides:
            error(f"default.deploy.parameters.parameter_overrides must set {key}")
    declared = raw.get("Parameters", {})
    for key in sorted(overrides):
        if key not in declared:
            error(f"parameter_overrides sets {key}, which the template does not declare")
            continue
        allowed = [str(v) for v in declared[key].get("AllowedValues", [])]
        if allowed and overrides[key].strip('"') not in allowed:
            error(f"parameter_overrides sets {key}={overrides[key]}, not one of the template's {allowed}")


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="the template (default template.yaml)")
    parser.add_argument("--template", help="the template (same as PATH)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT,
                        help="the checkout holding functions/, openapi.yaml, docs/ (default: this repository)")
    parser.add_argument("--samconfig", type=Path, metavar="FILE",
                        help="check only this samconfig.toml (against the template's parameters)")
    args = parser.parse_args(argv)
    if args.path and args.template and args.path != args.template:
        parser.error("give the template once (PATH or --template)")
    args.template = Path(args.template or args.path or "template.yaml")
    return args


def check(raw: dict, root: Path) -> float | None:
    """Every template rule; returns the fixed monthly cost at the defaults."""
    by_binary = check_functions(raw, sam_functions(raw))
    check_routes(by_binary)
    check_ingest(by_binary)
    check_schedules(raw, by_binary)
    check_live_quotes(raw, by_binary)
    check_migrations(raw, by_binary)
    check_database(raw)
    check_iam(raw, translate(raw))
    check_crates(root, by_binary)
    parameters = check_openapi(root, by_binary)
    check_cloudfront(raw)
    secret = origin_verify_secret(raw)
    check_origin_header(raw, secret)
    check_function_secrets(raw, by_binary, secret)
    check_api_cache_key(raw, parameters)
    check_accept_at_the_edge(raw)
    check_edge_abuse(raw)
    check_edge_logs(raw)
    check_api_alarms(raw)
    check_read_security_group(raw, by_binary)
    check_rds_log_group(raw)
    check_connection_budget(raw, by_binary, root)
    check_egress_defaults(raw)
    check_network(raw, by_binary)
    check_least_egress(raw, by_binary)
    cost = check_costs(raw, root)
    total = dict(table_rows(doc_section(root, "Costs"))).get("total")
    check_following(raw, by_binary, root, money(total[2]) if total and len(total) > 2 else None)
    return cost


def main(argv: list[str] | None = None) -> int:
    errors.clear()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    path = args.template
    if not path.is_file():
        print(f"error: {path} not found", file=sys.stderr)
        return 1
    raw = load_template(path)
    checked = args.samconfig or path
    if args.samconfig is not None:
        if raw:
            check_samconfig(args.samconfig, raw)
        ok = (f"{args.samconfig} OK (stack {SAMCONFIG_STACK_NAME}, parallel build, lint, no profile, "
              f"{len(SAMCONFIG_OVERRIDES)} parameter defaults declared by {path})")
    else:
        cost = check(raw, args.root.resolve()) if raw else None
        ok = (f"{path} OK ({len(EXPECTED_FUNCTIONS)} functions, {len(HTTP_BINARIES)} routes, IAM without "
              f"wildcards, origin verification, read-only egress, API function alarms, connection budget, "
              f"egress paths, fixed cost {cost or 0:.2f} USD a month at the defaults)")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(f"check_template: {len(errors)} problem(s) in {checked}", file=sys.stderr)
        return 1
    print(f"check_template: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
