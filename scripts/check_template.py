#!/usr/bin/env python3
"""Project-specific checks of template.yaml that cfn-lint and `sam validate` do not make.

Run by scripts/check-deploy.sh with the venv that holds cfn-lint (its YAML loader understands
!Ref/!GetAtt/!Sub) and aws-sam-translator (to check the IAM roles SAM generates).

    python scripts/check_template.py [--template PATH] [--root DIR] [PATH]
    python scripts/check_template.py --samconfig FILE [--template PATH]

PATH (or --template) defaults to template.yaml; DIR (the checkout whose functions/, openapi.yaml
and docs/deploy.md the template is compared with) defaults to this script's repository, so a
copy of the template elsewhere (e.g. a deliberately broken one) is checked against it.

With --samconfig only FILE (a samconfig.toml) is checked, against the parameters the template
declares: it parses, names the stack crypto-dashboard, deploys with CAPABILITY_IAM and
resolve_s3, builds in parallel, validates with lint, sets no profile anywhere, and its
parameter_overrides set EnvironmentName, CoinGeckoApiPlan, AlarmEmail, EnableRdsProxy and
EnableWaf, each a parameter of the template and within its AllowedValues.

Needs Python 3.11+ (tomllib reads the crates' Cargo.toml and samconfig.toml); an older Python is
an error, not a skipped check. scripts/test_check_template.py runs every rule below against a
deliberately broken copy of the template, samconfig.toml, openapi.yaml or docs/deploy.md.

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
  - a schedule sends an Input (the function would get a manual payload and record a scheduled
    run as trigger "manual"), a function other than ingest and live-quotes has a schedule,
    ingest has one besides the daily run, or live-quotes' schedule does not follow
    LiveQuotesEveryMinutes (every allowed value, 0 = disabled);
  - the live-quotes function is not a function of its own for one refresh at a time: reserved
    concurrency 1, no retries, a timeout and a maximum event age that end a refresh before the
    next is due, an on-failure destination other than ingest's DLQ; or there is no alarm on its
    errors over at least two consecutive refresh intervals (one period per interval, only while
    the schedule is on); or health or live-quotes lacks LIVE_EVERY_MINUTES;
  - a function connects with another database role than its own (owner: migrate only;
    dashboard_writer: ingest, live-quotes and cron-trigger; dashboard_reader: the read functions), or may read the owner
    secret without being the migrate function;
  - the migrations custom resource, the database settings, log retention or the cron
    authentication metric filter are not what docs/deploy.md promises;
  - origin verification is incomplete: no generated <stack>/origin-verify secret (48+ letters
    and digits), CloudFront's API origin does not send X-Origin-Verify from it, an HTTP
    function lacks ORIGIN_VERIFY_SECRET_ARN, a function reads a secret outside its own list
    (HTTP functions: their own plus the origin-verify secret), or an output exposes the
    execute-api URL;
  - the /api/* cache policy's query strings are not exactly the ones the API reads, or the
    origin request policy forwards others;
  - a read (GET) function is not in a security group of its own whose egress is only 5432 to
    the database/proxy groups and 443 to the Secrets Manager endpoint's group (no 0.0.0.0/0),
    or a group it sends to does not admit it;
  - an RDS instance exporting PostgreSQL logs has no explicit, valid DBInstanceIdentifier, no
    log group /aws/rds/instance/<id>/postgresql with retention, or does not depend on it;
  - a read function has no reserved concurrency, or the connection budget of docs/deploy.md
    (its table included) does not hold at the template's defaults, with and without RDS Proxy;
  - the cost-relevant defaults change: EgressMode must default to ipv6 and allow nat-gateway,
    DbMultiAz must default to true, and a NAT gateway or Elastic IP may exist only with
    EgressMode=nat-gateway (and one must then);
  - the network loses an invariant, at the defaults and with each EgressMode: the database is
    dual-stack or one of its subnets maps public IPv4 addresses or routes to an internet gateway;
    ingest, live-quotes or cron-trigger has no path to the internet (443 egress plus a 0.0.0.0/0 route to a
    NAT gateway, or Ipv6AllowedForDualStack, IPv6 subnets and a ::/0 route to an egress-only
    gateway); cron-trigger has only IPv6 but not the Lambda API's dual-stack name; another
    function has Ipv6AllowedForDualStack; migrate's subnets lack the S3 gateway endpoint;
  - the fixed monthly cost drifts: a resource type is neither priced nor known to be free when
    idle, docs/deploy.md's "Costs" totals (at the defaults, and for each `Parameter=value` row)
    differ from the cost recomputed from the template, or the total at the defaults is more
    than half of the original stack's.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
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
# Managed policies a function role may carry (SAM adds the basic one to every role it makes).
ALLOWED_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
}
# Binary -> the secret (logical id) of the database role it connects as; every other
# function uses the read-only role.
DATABASE_ROLE_SECRETS = {
    "migrate": "DatabaseSecret",
    "ingest": "DatabaseWriterSecret",
    "live-quotes": "DatabaseWriterSecret",
    # Records the accepted run before launching it (one running row at a time).
    "cron-trigger": "DatabaseWriterSecret",
}
READ_ONLY_SECRET = "DatabaseReaderSecret"
OWNER_SECRET = "DatabaseSecret"
INGEST_SCHEDULE = "cron(0 2 * * ? *)"
# The live-quote schedule's interval (minutes; 0 turns it off), the function health reads it in,
# and how many consecutive failed intervals the live-quote alarm waits for at least.
LIVE_INTERVAL_PARAMETER = "LiveQuotesEveryMinutes"
LIVE_INTERVAL_ENV = "LIVE_EVERY_MINUTES"
LIVE_INTERVAL_READERS = ("health", "live-quotes")
LIVE_ALARM_MIN_PERIODS = 2
CRON_AUTH_PHRASE = "cron authentication failed"
# Binary -> the secrets (logical ids) it may read besides READ_ONLY_SECRET's default; HTTP
# functions may also read the origin-verify secret, and nothing else.
OWN_SECRETS = {
    "migrate": {"DatabaseSecret", "DatabaseReaderSecret", "DatabaseWriterSecret"},
    "ingest": {"DatabaseWriterSecret", "CoinGeckoApiKeySecret"},
    "live-quotes": {"DatabaseWriterSecret", "CoinGeckoApiKeySecret"},
    "cron-trigger": {"DatabaseWriterSecret", "CronSecret"},
}
ORIGIN_VERIFY_HEADER = "x-origin-verify"
ORIGIN_VERIFY_SECRET_SUFFIX = "/origin-verify"
ORIGIN_VERIFY_MIN_LENGTH = 48
# The query strings the API reads (prices: currency, interval, from, to; market: currency;
# ingestion runs: limit). The API cache key holds exactly these.
API_QUERY_STRINGS = {"currency", "interval", "from", "to", "limit", "mode"}
POSTGRES_PORT = 5432
# The database connection budget; docs/deploy.md "Database connection budget" shows the same
# arithmetic. max_connections is LEAST(DBInstanceClassMemory/9531392, 5000), where
# DBInstanceClassMemory is what is left of the class's memory after the OS and RDS's own
# processes: 112 for a nominal 1 GiB, about 80-87 observed; plan with the low end.
PLANNED_MAX_CONNECTIONS = {"db.t4g.micro": 80, "db.t3.micro": 80}
SUPERUSER_RESERVED = 3 + 2  # superuser_reserved_connections + rds.rds_superuser_reserved_connections
ROTATION_CONNECTIONS = 3  # the three hosted rotation Lambdas (all rotate when first set up)
OPERATOR_HEADROOM = 5  # at least this many left for psql sessions, RDS's own, a manual migrate
STACK_NAME_FOR_CHECKS = "crypto-dashboard"
RDS_IDENTIFIER = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$")

errors: list[str] = []


def error(msg: str) -> None:
    if msg not in errors:  # two checks may find the same thing (e.g. no /api/* behaviour)
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


def schedule_events(res: dict) -> dict:
    return {n: e for n, e in res.get("Properties", {}).get("Events", {}).items()
            if e.get("Type") in ("Schedule", "ScheduleV2")}


def check_schedules(raw: dict, by_binary) -> None:
    """Each schedule sends EventBridge's scheduled event itself, to ingest (the daily run) or
    live-quotes (every LiveQuotesEveryMinutes). A function tells a scheduled run from a manual
    invoke by that event: a schedule with an Input would be recorded as trigger manual."""
    for binary, (name, res) in sorted(by_binary.items()):
        for ev_name, ev in schedule_events(res).items():
            p = ev.get("Properties", {})
            where = f"{name}.Events.{ev_name}"
            for key in ("Input", "InputTransformer"):
                if key in p:
                    error(f"{where}: sends {key}; the function gets it as a manual payload and records "
                          f"the scheduled run as trigger manual. Send the scheduled event itself (no {key})")
            expression = p.get("Schedule", p.get("ScheduleExpression"))
            if binary == "ingest" and expression != INGEST_SCHEDULE:
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
    p = events[0].get("Properties", {})
    spec = raw.get("Parameters", {}).get(LIVE_INTERVAL_PARAMETER, {})
    allowed = spec.get("AllowedValues")
    if not allowed or 0 not in [int(v) for v in allowed]:
        error(f"parameter {LIVE_INTERVAL_PARAMETER} must list its AllowedValues, 0 (off) among them")
        return
    for minutes in allowed:
        params = dict(defaults(raw), **{LIVE_INTERVAL_PARAMETER: minutes})
        try:
            expression = evaluate(p.get("Schedule", p.get("ScheduleExpression")), raw, params)
            state = evaluate(p.get("State", "ENABLED"), raw, params)
        except Unresolved as exc:
            error(f"{name}: its schedule cannot be worked out from {LIVE_INTERVAL_PARAMETER} ({exc})")
            return
        if int(minutes) == 0:
            if state != "DISABLED":
                error(f"{name}: with {LIVE_INTERVAL_PARAMETER}=0 its schedule must be DISABLED, is {state!r}")
        elif (expression, state) != (f"rate({minutes} minutes)", "ENABLED"):
            error(f"{name}: with {LIVE_INTERVAL_PARAMETER}={minutes} its schedule must be an ENABLED "
                  f"rate({minutes} minutes), is {state} {expression!r}")


def check_live_quotes(raw: dict, by_binary) -> None:
    """Live quotes on a function of their own: one refresh at a time, never queued behind
    anything, failures handled apart from ingest's, an alarm that means live quotes keep
    failing."""
    for binary in LIVE_INTERVAL_READERS:
        if binary in by_binary:
            name, res = by_binary[binary]
            value = res.get("Properties", {}).get("Environment", {}).get("Variables", {}).get(LIVE_INTERVAL_ENV)
            if ref_id(value) != LIVE_INTERVAL_PARAMETER:
                error(f"{name}: {LIVE_INTERVAL_ENV} must be !Ref {LIVE_INTERVAL_PARAMETER} (the live refresh's "
                      f"interval; health reports it degraded after three)")
    if "live-quotes" not in by_binary:
        return
    name, res = by_binary["live-quotes"]
    props = res["Properties"]
    allowed = [int(v) for v in raw.get("Parameters", {}).get(LIVE_INTERVAL_PARAMETER, {}).get("AllowedValues", [])]
    intervals = [m * 60 for m in allowed if m > 0]
    shortest = min(intervals, default=0)
    if props.get("ReservedConcurrentExecutions") != 1:
        error(f"{name}: ReservedConcurrentExecutions must be 1 (one refresh at a time, its own units)")
    config = props.get("EventInvokeConfig", {})
    if config.get("MaximumRetryAttempts") != 0:
        error(f"{name}: EventInvokeConfig.MaximumRetryAttempts must be 0 (the next schedule is the retry)")
    timeout = props.get("Timeout")
    age = config.get("MaximumEventAgeInSeconds")
    if not isinstance(timeout, int) or not isinstance(age, int) or timeout + age > shortest:
        error(f"{name}: Timeout ({timeout}) + EventInvokeConfig.MaximumEventAgeInSeconds ({age}) must be "
              f"numbers within the shortest refresh interval ({shortest} s), so that a refresh ends "
              f"before the next is due")
    on_failure = config.get("DestinationConfig", {}).get("OnFailure", {})
    ingest_destination = (by_binary.get("ingest", (None, {}))[1].get("Properties", {})
                          .get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
                          .get("Destination"))
    if not on_failure.get("Destination") or on_failure.get("Destination") == ingest_destination:
        error(f"{name}: EventInvokeConfig needs an OnFailure destination of its own (not ingest's DLQ, "
              f"whose alarm means a history run failed)")
    found = False
    for alarm, a in of_type(raw, "AWS::CloudWatch::Alarm").items():
        p = a.get("Properties", {})
        dims = as_list(p.get("Dimensions"))
        if p.get("MetricName") != "Errors" or {"Name": "FunctionName", "Value": {"Ref": name}} not in dims:
            continue
        found = True
        periods = p.get("EvaluationPeriods")
        if not isinstance(periods, int) or periods < LIVE_ALARM_MIN_PERIODS \
                or p.get("DatapointsToAlarm", periods) != periods:
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
    if not found:
        error(f"no alarm on {name}'s Errors (live quotes failing in consecutive intervals)")


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


def toml_module():
    """tomllib (Python 3.11+), or None after reporting that it is missing."""
    try:
        import tomllib
    except ModuleNotFoundError:
        error(f"Python {sys.version.split()[0]} has no tomllib (it needs 3.11 or newer), so TOML "
              f"files cannot be checked; run with Python 3.11+ (scripts/check-deploy.sh does)")
        return None
    return tomllib


def crate_binaries(manifest: Path, tomllib) -> set[str]:
    """The binaries a function crate builds: its package name (src/main.rs) and any [[bin]]
    names. A [lib] name is not a binary."""
    try:
        cargo = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        error(f"{manifest.parent.name}/Cargo.toml cannot be read: {exc}")
        return set()
    names = {b.get("name") for b in cargo.get("bin", []) if isinstance(b, dict)}
    package = cargo.get("package", {})
    if (manifest.parent / "src" / "main.rs").is_file() and package.get("autobins", True):
        names.add(package.get("name"))
    return {n for n in names if isinstance(n, str)}


def check_crates(root: Path, by_binary: dict[str, tuple[str, dict]]) -> None:
    """Every crate under functions/ has exactly one template resource, and back."""
    tomllib = toml_module()
    if tomllib is None:
        return
    declared = set()
    for manifest in sorted(root.glob("functions/*/Cargo.toml")):
        declared.update(crate_binaries(manifest, tomllib))
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


# --- evaluating intrinsic functions at the parameters' defaults ---------------------------------

class Unresolved(Exception):
    """An intrinsic function this small evaluator does not resolve (GetAtt, Ref to a resource)."""


def defaults(raw: dict) -> dict:
    return {k: v.get("Default") for k, v in raw.get("Parameters", {}).items() if "Default" in v}


def evaluate(node, raw: dict, params: dict):
    """node with Ref/Sub/If/Join/Equals/Not/And/Or/Condition resolved under params."""
    if isinstance(node, list):
        return [evaluate(n, raw, params) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        return {k: evaluate(v, raw, params) for k, v in node.items()}
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg in params:
            return params[arg]
        pseudo = {"AWS::StackName": STACK_NAME_FOR_CHECKS, "AWS::Region": "us-east-1",
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        if arg in pseudo:
            return pseudo[arg]
        raise Unresolved(f"Ref {arg}")
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(m):
            name = m.group(1)
            if name in variables:
                return str(evaluate(variables[name], raw, params))
            return str(evaluate({"Ref": name}, raw, params))
        return re.sub(r"\$\{([^!}][^}]*)\}", one, text)
    if fn == "Fn::If":
        branch = arg[1] if condition(arg[0], raw, params) else arg[2]
        return evaluate(branch, raw, params)
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
    """Whether a resource exists under params (its Condition, if any, holds)."""
    return "Condition" not in res or condition(res["Condition"], raw, params)


def ref_id(node):
    """The logical id of {"Ref": id}, else None."""
    return node.get("Ref") if isinstance(node, dict) and set(node) == {"Ref"} else None


def of_type(raw: dict, type_: str) -> dict:
    return {n: r for n, r in raw.get("Resources", {}).items() if r.get("Type") == type_}


def http_binaries() -> set[str]:
    return {b for b, route in EXPECTED_FUNCTIONS.items() if route}


def read_binaries() -> set[str]:
    return {b for b, route in EXPECTED_FUNCTIONS.items() if route and route[0] == "GET"}


# --- origin verification ----------------------------------------------------------------------

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
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict) and "Fn::If" in node:
        for branch in node["Fn::If"][1:]:
            yield from string_leaves(branch)
    elif isinstance(node, dict) and "Fn::Sub" in node:
        arg = node["Fn::Sub"]
        yield arg if isinstance(arg, str) else arg[0]
    else:
        yield json.dumps(node)


def api_behaviour(raw: dict):
    """(distribution id, its config, the /api/* behaviour) or None."""
    for name, res in of_type(raw, "AWS::CloudFront::Distribution").items():
        config = res.get("Properties", {}).get("DistributionConfig", {})
        for b in config.get("CacheBehaviors", []):
            if b.get("PathPattern") == "/api/*":
                return name, config, b
    error("no CloudFront behaviour for /api/*")
    return None


def check_origin_header(raw: dict, secret: str | None) -> None:
    found = api_behaviour(raw)
    if not found or not secret:
        return
    name, config, behaviour = found
    origins = {o.get("Id"): o for o in config.get("Origins", [])}
    origin = origins.get(behaviour.get("TargetOriginId"))
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


def readable_secrets(props: dict) -> tuple[set[str], list[str]]:
    """Logical ids of the secrets a function's Policies allow GetSecretValue on, and the
    resources that are not a Ref to a secret."""
    ids, others = set(), []
    for _, stmt in walk_statements(props.get("Policies", []), "Policies"):
        if stmt.get("Effect") != "Allow" or "secretsmanager:GetSecretValue" not in as_list(stmt.get("Action")):
            continue
        for resource in as_list(stmt.get("Resource")):
            rid = ref_id(resource)
            if rid:
                ids.add(rid)
            else:
                others.append(json.dumps(resource))
    return ids, others


def check_function_secrets(raw: dict, by_binary, secret: str | None) -> None:
    for binary, (name, res) in by_binary.items():
        props = res.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        allowed = set(OWN_SECRETS.get(binary, {READ_ONLY_SECRET}))
        is_http = binary in http_binaries()
        if is_http and secret:
            allowed.add(secret)
            if ref_id(variables.get("ORIGIN_VERIFY_SECRET_ARN")) != secret:
                error(f"{name}: an HTTP function needs ORIGIN_VERIFY_SECRET_ARN: !Ref {secret}")
        elif is_http:
            # No origin-verify secret found (reported once already): judge the rest only.
            allowed.update(filter(None, [ref_id(variables.get("ORIGIN_VERIFY_SECRET_ARN"))]))
        elif "ORIGIN_VERIFY_SECRET_ARN" in variables:
            error(f"{name}: not an HTTP function; it has no use for ORIGIN_VERIFY_SECRET_ARN")
        readable, others = readable_secrets(props)
        for other in others:
            error(f"{name}: secretsmanager:GetSecretValue on {other}; use !Ref of a secret of this template")
        for extra in sorted(readable - allowed):
            error(f"{name}: may read {extra}, but its secrets are {sorted(allowed)}")
        if is_http and secret and secret not in readable:
            error(f"{name}: needs secretsmanager:GetSecretValue on {secret} (ORIGIN_VERIFY_SECRET_ARN)")


def check_outputs(raw: dict) -> None:
    for name, out in raw.get("Outputs", {}).items():
        text = json.dumps(out.get("Value"))
        if "execute-api" in text or ref_id(out.get("Value")) == "Api":
            error(f"Outputs.{name}: exposes the execute-api endpoint; the API's address is CloudFront's /api/")


# --- API cache key ------------------------------------------------------------------------------

def check_api_cache_key(raw: dict) -> None:
    found = api_behaviour(raw)
    if not found:
        return
    name, _, behaviour = found
    resources = raw.get("Resources", {})
    policy_id = ref_id(behaviour.get("CachePolicyId"))
    policy = resources.get(policy_id, {})
    if policy.get("Type") != "AWS::CloudFront::CachePolicy":
        error(f"{name}: the /api/* behaviour must use a cache policy of this template")
    else:
        qs = (policy["Properties"].get("CachePolicyConfig", {})
              .get("ParametersInCacheKeyAndForwardedToOrigin", {}).get("QueryStringsConfig", {}))
        listed = as_list(qs.get("QueryStrings"))
        if qs.get("QueryStringBehavior") != "whitelist" or set(listed) != API_QUERY_STRINGS \
                or len(listed) != len(set(listed)):
            error(f"{policy_id}: the cache key's query strings must be exactly the ones the API "
                  f"reads (whitelist {sorted(API_QUERY_STRINGS)}), got "
                  f"{qs.get('QueryStringBehavior')} {listed}")
    orp_id = ref_id(behaviour.get("OriginRequestPolicyId"))
    orp = resources.get(orp_id, {})
    if orp.get("Type") == "AWS::CloudFront::OriginRequestPolicy":
        qs = orp["Properties"].get("OriginRequestPolicyConfig", {}).get("QueryStringsConfig", {})
        behaviour_qs = qs.get("QueryStringBehavior")
        if behaviour_qs not in ("none", "whitelist") or not set(as_list(qs.get("QueryStrings"))) <= API_QUERY_STRINGS:
            error(f"{orp_id}: forwards query strings outside the cache key ({behaviour_qs}); the "
                  f"origin would answer for a request the key does not describe")


# --- read functions' security group -------------------------------------------------------------

def group_rules(raw: dict, group: str, direction: str) -> list[dict]:
    """Inline and separate rules of a security group; direction is Egress or Ingress."""
    resources = raw.get("Resources", {})
    rules = [dict(r) for r in resources.get(group, {}).get("Properties", {}).get(f"SecurityGroup{direction}", [])]
    for name, res in of_type(raw, f"AWS::EC2::SecurityGroup{direction}").items():
        if ref_id(res.get("Properties", {}).get("GroupId")) == group:
            rule = dict(res["Properties"])
            rule["_resource"] = name
            rule["_condition"] = res.get("Condition")
            rules.append(rule)
    return rules


def check_read_security_group(raw: dict, translated: dict | None, by_binary) -> None:
    if translated is None:
        return
    functions = translated.get("Resources", {})
    database_groups = {ref_id(g) for r in of_type(raw, "AWS::RDS::DBInstance").values()
                       for g in as_list(r.get("Properties", {}).get("VPCSecurityGroups"))}
    proxy_groups = {ref_id(g) for r in of_type(raw, "AWS::RDS::DBProxy").values()
                    for g in as_list(r.get("Properties", {}).get("VpcSecurityGroupIds"))}
    endpoint_groups = {ref_id(g) for r in of_type(raw, "AWS::EC2::VPCEndpoint").values()
                       if "secretsmanager" in json.dumps(r.get("Properties", {}).get("ServiceName"))
                       for g in as_list(r.get("Properties", {}).get("SecurityGroupIds"))}
    def groups_of(name):
        return as_list(functions.get(name, {}).get("Properties", {}).get("VpcConfig", {}).get("SecurityGroupIds"))

    users: dict[str, set[str]] = {}  # security group -> functions that are not read functions
    for binary, (name, _) in by_binary.items():
        if binary not in read_binaries():
            for g in groups_of(name):
                users.setdefault(ref_id(g), set()).add(name)
    read_groups: set[str] = set()
    for binary in sorted(read_binaries()):
        if binary not in by_binary:
            continue
        name = by_binary[binary][0]
        groups = groups_of(name)
        ids = [ref_id(g) for g in groups]
        if len(ids) != 1 or not ids[0]:
            error(f"{name}: a read function needs exactly one security group, the read-only one "
                  f"(after SAM's Globals merge it has {json.dumps(groups)})")
            continue
        if ids[0] in users:
            error(f"{name}: its security group {ids[0]} is shared with {sorted(users[ids[0]])}; "
                  f"read functions need a group of their own")
        read_groups.add(ids[0])
    if len(read_groups) > 1:
        error(f"the read functions use different security groups {sorted(read_groups)}; give them one")
    for group in sorted(read_groups):
        res = raw.get("Resources", {}).get(group, {})
        if res.get("Type") != "AWS::EC2::SecurityGroup":
            error(f"read functions' security group {group} is not an AWS::EC2::SecurityGroup of this template")
            continue
        if not res.get("Properties", {}).get("SecurityGroupEgress"):
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
            elif port == (POSTGRES_PORT, POSTGRES_PORT) and target in database_groups | proxy_groups:
                pass
            elif port == (443, 443) and target in endpoint_groups:
                pass
            else:
                error(f"{where}: ports {port} to {target}; only {POSTGRES_PORT} to the database/proxy "
                      f"group and 443 to the Secrets Manager endpoint group")
                continue
            admitted = [i for i in group_rules(raw, target, "Ingress")
                        if ref_id(i.get("SourceSecurityGroupId")) == group
                        and (i.get("FromPort"), i.get("ToPort")) == port
                        and i.get("_condition") in (None, rule.get("_condition"))]
            if not admitted:
                error(f"{target}: does not admit {group} on port {port[0]} (its egress rule {where})")


# --- RDS PostgreSQL log group -------------------------------------------------------------------

def check_rds_log_group(raw: dict) -> None:
    resources = raw.get("Resources", {})
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
        used = {ref_id(r) for r in walk_refs(ident)} | set(re.findall(r"\$\{(\w+)\}", json.dumps(ident)))
        variant = dict(base, **{k: "sample-db" for k in used if base.get(k) == ""})
        matched = set()
        for params in (base, variant):
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
                    if active(lg_res, raw, params) and evaluate(
                            lg_res.get("Properties", {}).get("LogGroupName"), raw, params) == wanted:
                        here.add(lg)
                except Unresolved:
                    continue
            if not here:
                error(f"{name}: no log group named {wanted} (the PostgreSQL log export's group)")
            matched |= here
        for lg in sorted(matched):
            if "RetentionInDays" not in resources[lg].get("Properties", {}):
                error(f"{lg}: the PostgreSQL log group needs RetentionInDays")
            if lg not in as_list(res.get("DependsOn")):
                error(f"{name}: must DependsOn {lg}, or RDS may create the group first (without retention)")


# --- connection budget --------------------------------------------------------------------------

def number(node, raw: dict, params: dict, what: str):
    try:
        value = evaluate(node, raw, params)
        return int(value)
    except (Unresolved, TypeError, ValueError):
        error(f"{what}: {json.dumps(node)} is not a number at the parameters' defaults")
        return None


def budget_table(root: Path) -> dict[str, int]:
    """The 'Database connection budget' table of docs/deploy.md: first-cell text -> number."""
    path = root / "docs" / "deploy.md"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    section = re.search(r"^#+ Database connection budget\n(.*?)(?=^#)", text, re.M | re.S)
    rows = {}
    for line in (section.group(1) if section else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            m = re.fullmatch(r"[*\s]*[-−]?\s*(\d+)[*\s]*", cells[1])
            if m:
                rows[re.sub(r"[*`]", "", cells[0]).strip().lower()] = int(m.group(1))
    return rows


def check_connection_budget(raw: dict, by_binary, root: Path) -> None:
    params = defaults(raw)
    db_class = params.get("DbInstanceClass")
    planned = PLANNED_MAX_CONNECTIONS.get(db_class)
    if planned is None:
        error(f"DbInstanceClass default {db_class!r} has no planned max_connections here; add it to "
              f"PLANNED_MAX_CONNECTIONS and to docs/deploy.md's budget")
        return

    def consumer(binary, need_reserved):
        name, res = by_binary[binary]
        props = res.get("Properties", {})
        pool = props.get("Environment", {}).get("Variables", {}).get("DB_POOL_MAX_SIZE")
        if pool is None:
            error(f"{name}: DB_POOL_MAX_SIZE must be set (the connection budget counts it)")
        else:
            pool = number(pool, raw, params, f"{name}.DB_POOL_MAX_SIZE")
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved is None:
            if need_reserved:
                error(f"{name}: ReservedConcurrentExecutions must be set (it bounds the function's "
                      f"database connections; docs/deploy.md \"Database connection budget\")")
            count = None if need_reserved else 1
        else:
            count = number(reserved, raw, params, f"{name}.ReservedConcurrentExecutions")
        return count, pool

    if any(b not in by_binary for b in EXPECTED_FUNCTIONS):
        return
    reads = [consumer(b, True) for b in sorted(read_binaries())]
    cron = consumer("cron-trigger", True)
    ingest = consumer("ingest", True)
    live = consumer("live-quotes", True)
    migrate = consumer("migrate", False)  # one custom-resource invocation per deploy
    parts = reads + [cron, ingest, live, migrate]
    if any(c is None or p is None for c, p in parts):
        return
    usable = planned - SUPERUSER_RESERVED
    line = {
        "read functions": sum(c * p for c, p in reads),
        "cron-trigger": cron[0] * cron[1],
        "ingest": ingest[0] * ingest[1],
        "live-quotes": live[0] * live[1],
        "migrate": migrate[0] * migrate[1],
        "secret rotation": ROTATION_CONNECTIONS,
    }
    headroom = usable - sum(line.values())
    if headroom < OPERATOR_HEADROOM:
        error(f"connection budget on {db_class}: {usable} usable (max_connections {planned} - "
              f"{SUPERUSER_RESERVED} reserved) - {line} leaves {headroom}, under the "
              f"{OPERATOR_HEADROOM} kept for operators; lower ReadFunctionReservedConcurrency")
    # The largest per-function read concurrency that fits, against the template's rule.
    per_read = {p for _, p in reads}
    fits = None
    if len(per_read) == 1:
        others = sum(v for k, v in line.items() if k != "read functions")
        fits = (usable - OPERATOR_HEADROOM - others) // (len(reads) * per_read.pop())
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
        proxy = planned * pct // 100
        direct = line["migrate"] + line["secret rotation"]
        if proxy + direct + OPERATOR_HEADROOM > usable:
            error(f"{name}: with RDS Proxy, {proxy} proxy connections ({pct}% of {planned}) + {direct} "
                  f"direct + {OPERATOR_HEADROOM} for operators exceed the {usable} usable")
    # docs/deploy.md shows the same numbers.
    table = budget_table(root)
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
# Lambda API).
INTERNET_BINARIES = {"ingest", "live-quotes", "cron-trigger"}
# The SDK variables that send cron-trigger's Lambda calls to the API's dual-stack name (its
# default name, lambda.<region>.amazonaws.com, has IPv4 addresses only).
LAMBDA_DUALSTACK_ENV = ("AWS_ENDPOINT_URL_LAMBDA", "AWS_USE_DUALSTACK_ENDPOINT")
EGRESS_MODE_PARAMETER = "EgressMode"
CHEAP_EGRESS_MODE = "ipv6"


def with_conditions(node, raw: dict, params: dict):
    """node with every Fn::If decided and AWS::NoValue dropped; other intrinsics kept."""
    if isinstance(node, list):
        return [v for v in (with_conditions(n, raw, params) for n in node) if v is not NO_VALUE]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return with_conditions(yes if condition(name, raw, params) else no, raw, params)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        return {k: v for k, v in ((k, with_conditions(v, raw, params)) for k, v in node.items())
                if v is not NO_VALUE}
    return node


NO_VALUE = object()


def egress_variants(raw: dict) -> list[tuple[str, dict]]:
    """(label, parameters) for the defaults and for each allowed EgressMode."""
    base = defaults(raw)
    variants = [("defaults", base)]
    spec = raw.get("Parameters", {}).get(EGRESS_MODE_PARAMETER, {})
    for mode in spec.get("AllowedValues", []):
        variants.append((f"{EGRESS_MODE_PARAMETER}={mode}", dict(base, **{EGRESS_MODE_PARAMETER: mode})))
    return variants


def active_resources(raw: dict, params: dict, type_: str) -> dict:
    out = {}
    for name, res in of_type(raw, type_).items():
        try:
            if active(res, raw, params):
                out[name] = res
        except Unresolved:
            out[name] = res
    return out


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
        target = ref_id(route.get(key))
        if target:
            return raw.get("Resources", {}).get(target, {}).get("Type", key)
        if route.get(key):
            return key
    return None


def subnet_has_ipv6(raw: dict, params: dict, subnet: str) -> bool:
    props = raw.get("Resources", {}).get(subnet, {}).get("Properties", {})
    if props.get("Ipv6CidrBlock") or props.get("Ipv6Native"):
        return True
    return any(ref_id(b.get("Properties", {}).get("SubnetId")) == subnet
               for b in active_resources(raw, params, "AWS::EC2::SubnetCidrBlock").values())


def https_egress(raw: dict, params: dict, groups: list[str], family: str) -> bool:
    """Whether one of the groups allows TCP 443 to any address of the family (4 or 6)."""
    key, anywhere = ("CidrIp", "0.0.0.0/0") if family == "4" else ("CidrIpv6", "::/0")
    for group in groups:
        for rule in group_rules(raw, group, "Egress"):
            if rule.get("_condition"):
                try:
                    if not condition(rule["_condition"], raw, params):
                        continue
                except Unresolved:
                    continue
            low, high = rule.get("FromPort"), rule.get("ToPort")
            protocol = str(rule.get("IpProtocol"))
            if rule.get(key) != anywhere:
                continue
            if protocol == "-1" or (protocol in ("tcp", "6") and isinstance(low, int)
                                    and isinstance(high, int) and low <= 443 <= high):
                return True
    return False


def internet_paths(raw: dict, params: dict, props: dict) -> set[str]:
    """The address families ("IPv4", "IPv6") a function can reach the internet with."""
    vpc = with_conditions(props.get("VpcConfig", {}), raw, params)
    subnets = [ref_id(s) for s in as_list(vpc.get("SubnetIds"))]
    groups = [ref_id(g) for g in as_list(vpc.get("SecurityGroupIds"))]
    if not subnets or None in subnets:
        return set()
    paths = set()
    tables = [route_tables_of(raw, params, s) for s in subnets]
    routes = [[r for t in ts for _, r in routes_of(raw, params, t)] for ts in tables]
    if https_egress(raw, params, groups, "4") and all(
            any(r.get("DestinationCidrBlock") == "0.0.0.0/0"
                and route_target_type(raw, r) in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway")
                for r in rs) for rs in routes):
        paths.add("IPv4")
    ipv6_allowed = evaluate(vpc.get("Ipv6AllowedForDualStack", False), raw, params)
    if ipv6_allowed is True and https_egress(raw, params, groups, "6") \
            and all(subnet_has_ipv6(raw, params, s) for s in subnets) and all(
            any(r.get("DestinationIpv6CidrBlock") == "::/0"
                and route_target_type(raw, r) in ("AWS::EC2::EgressOnlyInternetGateway",
                                                  "AWS::EC2::InternetGateway")
                for r in rs) for rs in routes):
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
    base = defaults(raw)
    nat_params = dict(base, **{EGRESS_MODE_PARAMETER: "nat-gateway"})
    for type_ in ("AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        for name, res in of_type(raw, type_).items():
            try:
                here = active(res, raw, base)
            except Unresolved:
                here = True
            if here:
                error(f"{name} ({type_}) exists at the parameters' defaults; it has an hourly charge, "
                      f"so it must exist only with {EGRESS_MODE_PARAMETER}=nat-gateway (a Condition)")
    if not active_resources(raw, nat_params, "AWS::EC2::NatGateway"):
        error(f"no AWS::EC2::NatGateway exists with {EGRESS_MODE_PARAMETER}=nat-gateway; keep that egress "
              f"available for when IPv6 fails")


def check_network(raw: dict, translated: dict | None, by_binary) -> None:
    if translated is None or EGRESS_MODE_PARAMETER not in raw.get("Parameters", {}):
        return
    functions = translated.get("Resources", {})
    # The database: IPv4-only, and none of its subnets routes to an internet gateway.
    for name, db in of_type(raw, "AWS::RDS::DBInstance").items():
        p = db.get("Properties", {})
        if p.get("NetworkType", "IPV4") != "IPV4":
            error(f"{name}: NetworkType {p['NetworkType']!r}; the database must stay IPv4-only (its "
                  f"subnets send IPv6 to the internet)")
        group = raw.get("Resources", {}).get(ref_id(p.get("DBSubnetGroupName")), {})
        subnets = [ref_id(s) for s in as_list(group.get("Properties", {}).get("SubnetIds"))]
        for label, params in egress_variants(raw):
            for subnet in subnets:
                props = raw.get("Resources", {}).get(subnet, {}).get("Properties", {})
                if props.get("MapPublicIpOnLaunch") is True:
                    error(f"{subnet}: a database subnet that gives public IPv4 addresses")
                for table in sorted(filter(None, route_tables_of(raw, params, subnet))):
                    for route, r in routes_of(raw, params, table):
                        if route_target_type(raw, r) == "AWS::EC2::InternetGateway":
                            error(f"{route}: routes the database's subnet {subnet} to an internet gateway "
                                  f"({label}); its subnets must stay private")
    for label, params in egress_variants(raw):
        for binary, (name, _) in sorted(by_binary.items()):
            props = functions.get(name, {}).get("Properties", {})
            try:
                vpc = with_conditions(props.get("VpcConfig", {}), raw, params)
                ipv6_allowed = evaluate(vpc.get("Ipv6AllowedForDualStack", False), raw, params)
                paths = internet_paths(raw, params, props)
            except Unresolved as exc:
                error(f"{name}: its VpcConfig cannot be worked out from parameters ({exc})")
                continue
            if binary not in INTERNET_BINARIES:
                if ipv6_allowed is True:
                    error(f"{name}: Ipv6AllowedForDualStack with {label}; only "
                          f"{sorted(INTERNET_BINARIES)} call the internet")
                continue
            if not paths:
                error(f"{name}: no path to the internet with {label}: needs 443 egress in its security "
                      f"group and, in every subnet, a 0.0.0.0/0 route to a NAT gateway, or an IPv6 range, "
                      f"a ::/0 route to an egress-only internet gateway and Ipv6AllowedForDualStack")
            elif binary == "cron-trigger" and paths == {"IPv6"}:
                env = with_conditions(props.get("Environment", {}).get("Variables", {}), raw, params)
                endpoint = env.get(LAMBDA_DUALSTACK_ENV[0])
                text = json.dumps(endpoint)
                if not (".api.aws" in text or str(env.get(LAMBDA_DUALSTACK_ENV[1])).lower() == "true"):
                    error(f"{name}: reaches the internet over IPv6 only with {label}, but the Lambda API's "
                          f"default name has IPv4 addresses only; set {LAMBDA_DUALSTACK_ENV[0]} to "
                          f"https://lambda.<region>.api.aws")
    # migrate answers CloudFormation's pre-signed S3 URL (an IPv4-only name) in every mode.
    if "migrate" in by_binary:
        name = by_binary["migrate"][0]
        vpc = functions.get(name, {}).get("Properties", {}).get("VpcConfig", {})
        for label, params in egress_variants(raw):
            tables = {t for s in as_list(with_conditions(vpc, raw, params).get("SubnetIds"))
                      for t in route_tables_of(raw, params, ref_id(s))}
            served = {ref_id(t) for e in active_resources(raw, params, "AWS::EC2::VPCEndpoint").values()
                      if e.get("Properties", {}).get("VpcEndpointType") == "Gateway"
                      and ".s3" in json.dumps(e.get("Properties", {}).get("ServiceName"))
                      for t in as_list(e.get("Properties", {}).get("RouteTableIds"))}
            if not tables or not tables <= served:
                error(f"{name}: with {label} the route tables of its subnets {sorted(filter(None, tables))} "
                      f"have no S3 gateway endpoint; it answers CloudFormation's pre-signed S3 URL through it")


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
    "AWS::EC2::VPCCidrBlock", "AWS::EC2::VPCGatewayAttachment", "AWS::IAM::Role", "AWS::Logs::LogGroup",
    "AWS::Logs::MetricFilter", "AWS::RDS::DBParameterGroup", "AWS::RDS::DBProxyTargetGroup",
    "AWS::RDS::DBSubnetGroup", "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription",
    "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::SecretsManager::RotationSchedule",
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
            if not active(res, raw, params):
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
            elif type_ == "AWS::EC2::NatGateway":
                total += NAT_GATEWAY_HOUR * HOURS_PER_MONTH
            elif type_ == "AWS::EC2::EIP":
                total += PUBLIC_IPV4_HOUR * HOURS_PER_MONTH
            elif type_ == "AWS::SecretsManager::Secret":
                total += SECRET_MONTH
            elif type_ == "AWS::CloudWatch::Alarm":
                metrics = [m for m in as_list(p.get("Metrics")) if "MetricStat" in m] if "Metrics" in p else [p]
                total += len(metrics) * ALARM_METRIC_MONTH
            elif type_ == "AWS::RDS::DBProxy":
                db_class = defaults(raw).get("DbInstanceClass") if "DbInstanceClass" not in params \
                    else params["DbInstanceClass"]
                total += RDS_VCPUS.get(db_class, 2) * RDS_PROXY_VCPU_HOUR * HOURS_PER_MONTH
            elif type_ == "AWS::WAFv2::WebACL":
                total += WAF_WEB_ACL_MONTH + len(as_list(p.get("Rules"))) * WAF_RULE_MONTH
        except (Unresolved, TypeError, ValueError) as exc:
            error(f"{name}: its monthly cost cannot be worked out from parameters ({exc})")
            return None
    return round(total, 2)


def cost_tables(root: Path) -> tuple[dict[str, list[str]], list[list[str]]]:
    """docs/deploy.md "Costs": the fixed-cost table's rows by first cell, and the options rows
    (first cell a list of `Parameter=value`)."""
    path = root / "docs" / "deploy.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    section = re.search(r"^## Costs\b.*?\n(.*?)(?=^## )", text, re.M | re.S)
    fixed, options = {}, []
    for line in (section.group(1) if section else "").splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        label = re.sub(r"[*`]", "", cells[0]).strip().lower()
        if re.fullmatch(r"(`\w+=[\w.-]+`[ ,+]*)+", cells[0]):
            options.append(cells)
        else:
            fixed[label] = cells
    return fixed, options


def money(cell: str) -> float | None:
    m = re.search(r"[-−+]?\d[\d,]*\.\d\d", cell.replace("**", ""))
    return float(m.group(0).replace(",", "").replace("−", "-")) if m else None


def check_costs(raw: dict, root: Path) -> float | None:
    """Checks the cost tables; returns the fixed monthly cost at the defaults."""
    for name, res in raw.get("Resources", {}).items():
        if res.get("Type") not in PRICED_TYPES | UNPRICED_TYPES:
            error(f"{name}: resource type {res.get('Type')} is not in check_template.py's cost model "
                  f"(PRICED_TYPES or UNPRICED_TYPES); classify it and update docs/deploy.md \"Costs\"")
    base = defaults(raw)
    ours = fixed_monthly_cost(raw, base)
    if ours is None:
        return None
    fixed, options = cost_tables(root)
    total = fixed.get("total")
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
    declared = raw.get("Parameters", {})
    for cells in options:
        pairs = dict(re.findall(r"`(\w+)=([\w.-]+)`", cells[0]))
        unknown = sorted(set(pairs) - set(declared))
        if unknown:
            error(f"docs/deploy.md cost options: {cells[0]} sets {unknown}, which the template does not declare")
            continue
        value = fixed_monthly_cost(raw, dict(base, **pairs))
        shown = money(cells[3]) if len(cells) > 3 else None
        if value is not None and (shown is None or abs(shown - value) > 0.005):
            error(f"docs/deploy.md cost options: the total with {cells[0]} should say {value:.2f}, "
                  f"found {cells[3] if len(cells) > 3 else 'nothing'!r}")
    return ours


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
    if deploy.get("resolve_s3") is not True:
        error("default.deploy.parameters.resolve_s3 must be true")
    if section("build").get("parallel") is not True:
        error("default.build.parameters.parallel must be true")
    if section("validate").get("lint") is not True:
        error("default.validate.parameters.lint must be true")
    # Portable: no named AWS profile (each user's credential chain decides).
    for env, commands in cfg.items():
        if not isinstance(commands, dict):
            continue
        for command, sect in commands.items():
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


def main() -> int:
    args = parse_args(sys.argv[1:])
    path, root = args.template, args.root.resolve()
    if not path.is_file():
        print(f"error: {path} not found", file=sys.stderr)
        return 1
    raw = load_template(path)
    if args.samconfig is not None:
        if raw:
            check_samconfig(args.samconfig, raw)
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        if errors:
            print(f"check_template: {len(errors)} problem(s) in {args.samconfig}", file=sys.stderr)
            return 1
        print(f"check_template: {args.samconfig} OK (stack {SAMCONFIG_STACK_NAME}, parallel build, lint, "
              f"no profile, {len(SAMCONFIG_OVERRIDES)} parameter defaults declared by {path})")
        return 0
    cost = None
    if raw:
        by_binary = check_functions(raw)
        check_routes(by_binary)
        check_ingest(by_binary)
        check_schedules(raw, by_binary)
        check_live_quotes(raw, by_binary)
        check_migrations(raw, by_binary)
        check_database_roles(by_binary)
        check_database(raw)
        check_cron_auth_filter(raw)
        translated = translate(raw)
        check_iam(raw, translated)
        check_crates(root, by_binary)
        check_openapi(root, by_binary)
        check_cloudfront(raw)
        secret = origin_verify_secret(raw)
        check_origin_header(raw, secret)
        check_function_secrets(raw, by_binary, secret)
        check_outputs(raw)
        check_api_cache_key(raw)
        check_read_security_group(raw, translated, by_binary)
        check_rds_log_group(raw)
        check_connection_budget(raw, by_binary, root)
        check_egress_defaults(raw)
        check_network(raw, translated, by_binary)
        cost = check_costs(raw, root)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"check_template: {len(errors)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"check_template: {path} OK ({len(EXPECTED_FUNCTIONS)} functions, "
          f"{sum(1 for r in EXPECTED_FUNCTIONS.values() if r)} routes, IAM without wildcards, "
          f"origin verification, read-only egress, connection budget, egress paths, "
          f"fixed cost {cost:.2f} USD a month at the defaults)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
