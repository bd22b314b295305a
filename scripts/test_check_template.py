#!/usr/bin/env python3
"""Shows every rule of scripts/check_template.py firing, on deliberately broken inputs.

Run by scripts/check-deploy.sh with the deploy venv's Python (cfn-lint's YAML loader reads the
template with its !Ref/!GetAtt/!Sub tags, aws-sam-translator expands it):

    .local/deploy-venv/bin/python scripts/test_check_template.py [-k TEXT] [-v] [--list] [--jobs N]

Each case makes one small change to a copy of the project's input, writes it to a temporary
directory and runs check_template.py on it, as check-deploy.sh does:
  - template:    template.yaml with one mutation (written as JSON, which CloudFormation and
                 cfn-lint read like the YAML), checked with --template;
  - root:        a copy of the files the template is compared with (functions/*/Cargo.toml and
                 src/main.rs, openapi.yaml, docs/deploy.md) with one mutation, checked with --root;
  - samconfig:   samconfig.toml with one edit, checked with --samconfig;
  - environment: a missing module (cfn-lint, aws-sam-translator, tomllib) hidden on PYTHONPATH;
  - check-deploy: scripts/check-deploy.sh given a Python older than 3.11.
A case passes when the run exits non-zero with an "error:" line matching its expectation, or,
for the cases named "... passes", when it exits 0 with no error line. A mutation that no longer
applies (the input changed under it) or changes nothing fails its case. Last, every error(...)
call in check_template.py must have fired in some case, so a new rule without a case fails.

Each run is a process of its own: forked from this one, which has already imported cfn-lint and
aws-sam-translator (that saves about 0.7 s of CPU a case), and then check_template.py runs as
__main__ with the case's arguments. The environment and check-deploy cases exec a new
interpreter or bash instead. --jobs (default: the number of CPUs) cases run at once.

Prints one line per case (-v: with the error lines it produced) and then
"check_template rules: N passed, M failed"; exits 1 when M > 0. Deterministic: fixed inputs,
no network, no AWS account, output in the order the cases are listed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import runpy
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check_template.py"
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
CHECK_DEPLOY = ROOT / "scripts" / "check-deploy.sh"
CASE_TIMEOUT = 300  # seconds; a run taking longer is killed and fails its case


class Inapplicable(Exception):
    """A mutation whose target is not in the input any more."""


# --- inputs -------------------------------------------------------------------------------------

def load_yaml(path: Path) -> dict:
    """A CloudFormation/OpenAPI YAML file as plain JSON values (intrinsics in long form)."""
    try:
        from cfnlint.decode import decode
    except ImportError:
        sys.exit("error: cfn-lint is not importable; run with the deploy venv's Python "
                 "(scripts/check-deploy.sh creates .local/deploy-venv)")
    doc, matches = decode(str(path))
    if matches:
        sys.exit(f"error: {path.name} does not parse: {matches}")
    return json.loads(json.dumps(doc, default=str))


BASE_TEMPLATE = load_yaml(TEMPLATE)
BASE_OPENAPI = load_yaml(ROOT / "openapi.yaml")


def copy_root(dest: Path) -> Path:
    """The files check_template.py compares a template with, copied under dest."""
    for manifest in sorted(ROOT.glob("functions/*/Cargo.toml")):
        crate = dest / "functions" / manifest.parent.name
        (crate / "src").mkdir(parents=True)
        shutil.copyfile(manifest, crate / "Cargo.toml")
        main = manifest.parent / "src" / "main.rs"
        if main.is_file():
            shutil.copyfile(main, crate / "src" / "main.rs")
    (dest / "docs").mkdir(parents=True)
    shutil.copyfile(ROOT / "docs" / "deploy.md", dest / "docs" / "deploy.md")
    shutil.copyfile(ROOT / "openapi.yaml", dest / "openapi.yaml")
    return dest


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise Inapplicable(f"{old!r} occurs {text.count(old)} times, expected once")
    return text.replace(old, new)


def sub_once(text: str, pattern: str, repl: str) -> str:
    result, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n != 1:
        raise Inapplicable(f"no match for {pattern!r}")
    return result


# --- template mutation helpers ------------------------------------------------------------------

def res(t: dict, name: str) -> dict:
    try:
        return t["Resources"][name]
    except KeyError:
        raise Inapplicable(f"no resource {name}") from None


def props(t: dict, name: str) -> dict:
    return res(t, name).setdefault("Properties", {})


def variables(t: dict, name: str) -> dict:
    return props(t, name)["Environment"]["Variables"]


def statements(t: dict, name: str) -> list:
    """The statements of a function's first inline policy."""
    return props(t, name)["Policies"][0]["Statement"]


def secret_resources(t: dict, name: str) -> list:
    """The Resource list of a function's secretsmanager:GetSecretValue statement."""
    for stmt in statements(t, name):
        if stmt.get("Action") == "secretsmanager:GetSecretValue":
            return stmt["Resource"]
    raise Inapplicable(f"{name} has no GetSecretValue statement")


def api_behaviour(t: dict) -> dict:
    for b in props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]:
        if b.get("PathPattern") == "/api/*":
            return b
    raise Inapplicable("no /api/* behaviour")


def api_origin(t: dict) -> dict:
    for o in props(t, "Distribution")["DistributionConfig"]["Origins"]:
        if o.get("Id") == "api":
            return o
    raise Inapplicable("no api origin")


def read_functions(t: dict) -> list[str]:
    return [n for n, r in t["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"
            and any(e.get("Type") == "HttpApi" and e["Properties"].get("Method") == "GET"
                    for e in r["Properties"].get("Events", {}).values())]


def delete(d: dict, key: str) -> None:
    if key not in d:
        raise Inapplicable(f"no {key!r} to delete")
    del d[key]


def ref(name: str) -> dict:
    return {"Ref": name}


LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
MANAGED = "arn:aws:iam::aws:policy/service-role/"


def role(*managed: str) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": LAMBDA_TRUST, "ManagedPolicyArns": [MANAGED + m for m in managed]}}


def own_role(t: dict, function: str, role_id: str, *managed: str) -> None:
    t["Resources"][role_id] = role(*managed)
    delete(props(t, function), "Policies")
    props(t, function)["Role"] = {"Fn::GetAtt": [role_id, "Arn"]}


def set_egress(t: dict, **changes) -> None:
    """Changes the read group's inline egress rule (HTTPS to the Secrets Manager endpoint)."""
    rules = props(t, "ReadFunctionSecurityGroup")["SecurityGroupEgress"]
    if len(rules) != 1:
        raise Inapplicable("ReadFunctionSecurityGroup has not exactly one inline egress rule")
    rules[0].update(changes)


def budget_rule(t: dict) -> dict:
    return t["Rules"]["ReadConcurrencyFitsMicroInstance"]["Assertions"][0]["Assert"]["Fn::Contains"]


# --- cases --------------------------------------------------------------------------------------

@dataclass
class Case:
    group: str
    name: str
    expect: str | None  # a regular expression one "error:" line must match; None: must pass
    build: Callable[[Path], tuple[list[str], dict]]  # workdir -> (command, extra environment)
    # A new interpreter (for a hidden module, or another program) rather than a fork of this one.
    fresh_process: bool = False
    result: tuple[bool, str] = field(default=(False, "not run"))
    errors: list[str] = field(default_factory=list)


CASES: list[Case] = []


def check_command(*args) -> list[str]:
    return [sys.executable, str(CHECK), *map(str, args)]


def template_case(name: str, expect: str | None, mutate: Callable[[dict], object]) -> None:
    def build(work: Path):
        t = json.loads(json.dumps(BASE_TEMPLATE))
        mutate(t)
        if expect is not None and t == BASE_TEMPLATE:
            raise Inapplicable("the mutation changed nothing")
        path = work / "template.json"
        path.write_text(json.dumps(t, indent=1), encoding="utf-8")
        return check_command("--template", path, "--root", ROOT), {}
    CASES.append(Case("template", name, expect, build))


def template_text_case(name: str, expect: str, edit: Callable[[str], str]) -> None:
    def build(work: Path):
        path = work / "template.yaml"
        path.write_text(edit(TEMPLATE.read_text(encoding="utf-8")), encoding="utf-8")
        return check_command("--template", path, "--root", ROOT), {}
    CASES.append(Case("template", name, expect, build))


def root_case(name: str, expect: str | None, mutate: Callable[[Path], object]) -> None:
    def build(work: Path):
        root = copy_root(work / "root")
        mutate(root)
        return check_command("--template", TEMPLATE, "--root", root), {}
    CASES.append(Case("root", name, expect, build))


def samconfig_case(name: str, expect: str | None, edit: Callable[[str], str] | None) -> None:
    def build(work: Path):
        path = work / "samconfig.toml"
        if edit is not None:
            text = SAMCONFIG.read_text(encoding="utf-8")
            edited = edit(text)
            if expect is not None and edited == text:
                raise Inapplicable("the edit changed nothing")
            path.write_text(edited, encoding="utf-8")
        return check_command("--samconfig", path, "--template", TEMPLATE), {}
    CASES.append(Case("samconfig", name, expect, build))


def hidden_module_case(name: str, expect: str, module: str, samconfig: bool = False) -> None:
    """Runs with `module` unimportable: a stand-in earlier on PYTHONPATH raises on import."""
    def build(work: Path):
        shadow = work / "shadow"
        shadow.mkdir()
        (shadow / f"{module}.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {module!r} (hidden by the test)'!r}, name={module!r})\n")
        pythonpath = os.pathsep.join(filter(None, [str(shadow), os.environ.get("PYTHONPATH")]))
        args = ["--samconfig", SAMCONFIG] if samconfig else []
        return check_command(*args, "--template", TEMPLATE), {"PYTHONPATH": pythonpath}
    CASES.append(Case("environment", name, expect, build, fresh_process=True))


# A stand-in for a Python 3.10: answers check-deploy.sh's version probe with 3.10.12 and fails
# everything (so a missing guard shows up as another error, never as a venv being installed).
OLD_PYTHON = "#!/bin/sh\necho 3.10.12\nexit 1\n"
SUCCEEDS = "#!/bin/sh\nexit 0\n"


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def check_deploy_case(name: str, expect: str, prepare: Callable[[Path], dict]) -> None:
    def build(work: Path):
        return ["bash", str(CHECK_DEPLOY)], prepare(work)
    CASES.append(Case("check-deploy", name, expect, build, fresh_process=True))


# -- the unmodified inputs pass
template_text_case("template.yaml unmodified passes", None, lambda text: text)
template_case("template.yaml as JSON (how mutations are written) passes", None, lambda t: None)
root_case("copy of functions/, openapi.yaml, docs/deploy.md passes", None, lambda root: None)
samconfig_case("samconfig.toml unmodified passes", None, lambda text: text)

# -- reading the template
template_text_case("template does not parse (duplicate Resources)", r"cannot parse: .*Duplicate found 'Resources'",
                   lambda text: text + "\nResources: {}\n")
CASES.append(Case("template", "template file missing", r"missing\.yaml not found",
                  lambda work: (check_command("--template", work / "missing.yaml"), {})))

# -- IAM
template_case("IAM wildcard action", r"HealthFunction\.Properties\.Policies.*: wildcard action '\*'",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "Action": "*", "Resource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}}))
template_case("IAM service wildcard action", r"wildcard action 's3:Get\*'",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "Action": "s3:Get*", "Resource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}}))
template_case("IAM action not a literal string", r"Action must be a literal string",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "Action": ref("LogLevel"), "Resource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}}))
template_case("IAM Allow with NotAction", r"Allow with NotAction",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}}))
template_case("IAM Allow with NotResource", r"Allow with NotResource",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}}))
template_case("IAM Resource '*'", r"HealthFunction\.Properties\.Policies.*: Resource '\*'",
              lambda t: statements(t, "HealthFunction").append(
                  {"Effect": "Allow", "Action": "logs:CreateLogStream", "Resource": "*"}))
template_case("bucket policy Allow to Principal '*'", r"DashboardBucketPolicy.*Allow to Principal '\*'",
              lambda t: props(t, "DashboardBucketPolicy")["PolicyDocument"]["Statement"][0].update(Principal="*"))
template_case("SAM policy template granting Resource '*' (generated role)",
              r"\(generated\) HealthFunctionRole\.Policies.*: Resource '\*'",
              lambda t: props(t, "HealthFunction")["Policies"].append({"CloudWatchPutMetricPolicy": {}}))
template_case("managed policy other than the Lambda basic/VPC roles",
              r"\(generated\) HealthFunctionRole: managed policy .*AmazonS3ReadOnlyAccess.* is not one of",
              lambda t: props(t, "HealthFunction")["Policies"].append("AmazonS3ReadOnlyAccess"))


def shared_role(t):
    t["Resources"]["SharedRole"] = role("AWSLambdaVPCAccessExecutionRole")
    for f in ("HealthFunction", "CoinsListFunction"):
        props(t, f)["Role"] = {"Fn::GetAtt": ["SharedRole", "Arn"]}


template_case("two functions share a role", r"functions HealthFunction and CoinsListFunction share a role",
              shared_role)
template_case("function in a VPC whose role lacks the VPC execution policy",
              r"HealthFunction: in a VPC but its role lacks AWSLambdaVPCAccessExecutionRole",
              lambda t: own_role(t, "HealthFunction", "HealthRole", "AWSLambdaBasicExecutionRole"))
template_case("SAM transform fails (unsupported Globals property)", r"SAM transform failed: .*NoSuchProperty",
              lambda t: t["Globals"]["Function"].update(NoSuchProperty=1))

# -- functions: build settings
template_case("runtime not provided.al2023", r"HealthFunction: Runtime must be provided\.al2023",
              lambda t: props(t, "HealthFunction").update(Runtime="provided.al2"))
template_case("architecture x86_64", r"HealthFunction: Architectures must be \[arm64\]",
              lambda t: props(t, "HealthFunction").update(Architectures=["x86_64"]))
template_case("handler not bootstrap", r"HealthFunction: Handler must be bootstrap",
              lambda t: props(t, "HealthFunction").update(Handler="main"))
template_case("build method not rust-cargolambda", r"HealthFunction: Metadata\.BuildMethod must be rust-cargolambda",
              lambda t: res(t, "HealthFunction")["Metadata"].update(BuildMethod="makefile"))
template_case("CodeUri not the workspace root", r"HealthFunction: CodeUri must be \.",
              lambda t: props(t, "HealthFunction").update(CodeUri="functions/health"))
template_case("build without a Binary", r"HealthFunction: Metadata\.BuildProperties\.Binary is missing",
              lambda t: delete(res(t, "HealthFunction")["Metadata"], "BuildProperties"))
template_case("binary not in the function list", r"HealthFunction: unexpected binary 'healthz'",
              lambda t: res(t, "HealthFunction")["Metadata"]["BuildProperties"].update(Binary="healthz"))
template_case("two functions build one binary", r"CoinsListFunction and HealthFunction both build 'health'",
              lambda t: res(t, "CoinsListFunction")["Metadata"]["BuildProperties"].update(Binary="health"))
template_case("function log group without retention",
              r"HealthFunction: LoggingConfig\.LogGroup must Ref a log group with RetentionInDays",
              lambda t: delete(props(t, "HealthLogGroup"), "RetentionInDays"))
template_case("no function builds migrate", r"no function builds the 'migrate' binary",
              lambda t: delete(t["Resources"], "MigrateFunction"))

# -- HTTP routes


def duplicate_route(t):
    props(t, "CoinsListFunction")["Events"]["Again"] = json.loads(json.dumps(props(t, "HealthFunction")["Events"]["Api"]))


def swap_routes(t):
    a, b = props(t, "HealthFunction")["Events"]["Api"]["Properties"], props(t, "CoinsListFunction")["Events"]["Api"]["Properties"]
    a["Path"], b["Path"] = b["Path"], a["Path"]


def extra_route(t):
    event = json.loads(json.dumps(props(t, "HealthFunction")["Events"]["Api"]))
    event["Properties"]["Path"] = "/api/extra"
    props(t, "HealthFunction")["Events"]["Extra"] = event


template_case("route declared twice", r"route GET /api/health is declared twice", duplicate_route)
template_case("route not on the Api (implicit API)", r"HealthFunction\.Events\.Api: ApiId must be !Ref Api",
              lambda t: delete(props(t, "HealthFunction")["Events"]["Api"]["Properties"], "ApiId"))
template_case("route with payload format 1.0", r"HealthFunction\.Events\.Api: PayloadFormatVersion must be 2\.0",
              lambda t: props(t, "HealthFunction")["Events"]["Api"]["Properties"].update(PayloadFormatVersion="1.0"))
template_case("SPEC route missing", r"route GET /api/health \(function health\) is missing",
              lambda t: delete(props(t, "HealthFunction"), "Events"))
template_case("route wired to the wrong function", r"route GET /api/health goes to coins-list, expected health",
              swap_routes)
template_case("route not in the SPEC", r"unexpected route GET /api/extra \(health\)", extra_route)

# -- ingest
template_case("ingest schedule changed", r"IngestFunction: needs an EventBridge schedule cron\(0 2 \* \* \? \*\)",
              lambda t: props(t, "IngestFunction")["Events"]["Daily"]["Properties"].update(Schedule="cron(0 3 * * ? *)"))
template_case("ingest without reserved concurrency 1", r"IngestFunction: ReservedConcurrentExecutions must be 1",
              lambda t: props(t, "IngestFunction").update(ReservedConcurrentExecutions=2))
template_case("ingest timeout not 900", r"IngestFunction: Timeout must be 900",
              lambda t: props(t, "IngestFunction").update(Timeout=300))
template_case("ingest without the DLQ destination", r"IngestFunction: EventInvokeConfig needs an OnFailure SQS destination",
              lambda t: delete(props(t, "IngestFunction")["EventInvokeConfig"], "DestinationConfig"))

# -- schedules and the live-quotes function


def live_schedule(t) -> dict:
    return props(t, "LiveQuotesFunction")["Events"]["Schedule"]["Properties"]


def live_alarm(t) -> dict:
    return props(t, "LiveQuotesFailingAlarm")


def live_schedule_back_on_ingest(t):
    """The layout before live-quotes: the live rule on the ingest function, with an Input."""
    event = props(t, "LiveQuotesFunction")["Events"].pop("Schedule")
    event["Properties"]["Input"] = '{"mode": "latest"}'
    props(t, "IngestFunction")["Events"]["LiveQuotes"] = event


def health_schedule(t):
    props(t, "HealthFunction")["Events"]["Warm"] = {
        "Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}


template_case("live schedule sends an Input (recorded as manual)",
              r"LiveQuotesFunction\.Events\.Schedule: sends Input; the function gets it as a manual payload and records "
              r"the scheduled run as trigger manual",
              lambda t: live_schedule(t).update(Input='{"mode": "latest"}'))
template_case("live schedule back on the ingest function",
              r"IngestFunction\.Events\.LiveQuotes: the ingest function's only schedule is the daily cron\(0 2 \* \* \? \*\)",
              live_schedule_back_on_ingest)
template_case("a schedule on a read function", r"HealthFunction\.Events\.Warm: HealthFunction has a schedule; only ingest and live-quotes",
              health_schedule)
template_case("live-quotes without a schedule", r"LiveQuotesFunction: needs exactly one schedule .*, has 0",
              lambda t: delete(props(t, "LiveQuotesFunction"), "Events"))
template_case("live interval parameter without allowed values",
              r"parameter LiveQuotesEveryMinutes must list its AllowedValues, 0 \(off\) among them",
              lambda t: delete(t["Parameters"]["LiveQuotesEveryMinutes"], "AllowedValues"))
template_case("live schedule not computable", r"LiveQuotesFunction: its schedule cannot be worked out from LiveQuotesEveryMinutes",
              lambda t: live_schedule(t).update(Schedule={"Fn::Select": [0, ["rate(10 minutes)"]]}))
template_case("live schedule enabled at 0", r"LiveQuotesFunction: with LiveQuotesEveryMinutes=0 its schedule must be DISABLED",
              lambda t: live_schedule(t).update(State="ENABLED"))
template_case("live schedule not following its parameter",
              r"LiveQuotesFunction: with LiveQuotesEveryMinutes=5 its schedule must be an ENABLED rate\(5 minutes\)",
              lambda t: live_schedule(t)["Schedule"]["Fn::If"].__setitem__(1, "rate(10 minutes)"))
template_case("health without LIVE_EVERY_MINUTES", r"HealthFunction: LIVE_EVERY_MINUTES must be !Ref LiveQuotesEveryMinutes",
              lambda t: delete(variables(t, "HealthFunction"), "LIVE_EVERY_MINUTES"))
template_case("live-quotes without reserved concurrency 1", r"LiveQuotesFunction: ReservedConcurrentExecutions must be 1",
              lambda t: props(t, "LiveQuotesFunction").update(ReservedConcurrentExecutions=2))
template_case("live-quotes retried by Lambda", r"LiveQuotesFunction: EventInvokeConfig\.MaximumRetryAttempts must be 0",
              lambda t: props(t, "LiveQuotesFunction")["EventInvokeConfig"].update(MaximumRetryAttempts=2))
template_case("live-quotes outlasting the shortest interval",
              r"LiveQuotesFunction: Timeout \(300\) \+ EventInvokeConfig\.MaximumEventAgeInSeconds \(240\) must be numbers within "
              r"the shortest refresh interval \(300 s\)",
              lambda t: props(t, "LiveQuotesFunction").update(Timeout=300))
template_case("live-quotes failures in the ingest DLQ",
              r"LiveQuotesFunction: EventInvokeConfig needs an OnFailure destination of its own \(not ingest's DLQ",
              lambda t: props(t, "LiveQuotesFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"].update(
                  Destination={"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}))
template_case("live alarm on one failed refresh",
              r"LiveQuotesFailingAlarm: must fire on failures in 2 or more consecutive refresh intervals",
              lambda t: live_alarm(t).update(EvaluationPeriods=1, DatapointsToAlarm=1))
template_case("live alarm while the schedule is off", r"LiveQuotesFailingAlarm: must exist only while live quotes are on",
              lambda t: delete(res(t, "LiveQuotesFailingAlarm"), "Condition"))
template_case("live alarm period not computable", r"LiveQuotesFailingAlarm: its Period cannot be worked out from LiveQuotesEveryMinutes",
              lambda t: live_alarm(t)["Period"]["Fn::FindInMap"].__setitem__(0, "NoSuchMapping"))
template_case("live alarm period not one interval",
              r"LiveQuotesFailingAlarm: with LiveQuotesEveryMinutes=5 its Period must be one refresh interval \(300 s\), is 600",
              lambda t: live_alarm(t).update(Period=600))
template_case("no alarm on live-quotes errors", r"no alarm on LiveQuotesFunction's Errors",
              lambda t: delete(t["Resources"], "LiveQuotesFailingAlarm"))

# -- migrations custom resource


def migrations_without_database(t):
    depends = res(t, "DatabaseMigrations")["DependsOn"]
    if "Database" not in depends:
        raise Inapplicable("DatabaseMigrations does not depend on Database")
    depends.remove("Database")


template_case("migrations not after the database", r"DatabaseMigrations: must DependsOn the Database instance",
              migrations_without_database)
template_case("migrations without DeployId", r"DatabaseMigrations: needs a DeployId property",
              lambda t: delete(props(t, "DatabaseMigrations"), "DeployId"))
template_case("no custom resource runs migrate", r"no custom resource invokes MigrateFunction",
              lambda t: props(t, "DatabaseMigrations").update(ServiceToken={"Fn::GetAtt": ["HealthFunction", "Arn"]}))

# -- database roles
template_case("read function on the writer secret", r"HealthFunction: DATABASE_SECRET_ARN must be !Ref DatabaseReaderSecret",
              lambda t: variables(t, "HealthFunction").update(DATABASE_SECRET_ARN=ref("DatabaseWriterSecret")))
template_case("ingest may read the owner secret", r"IngestFunction: only the migrate function may read DatabaseSecret",
              lambda t: secret_resources(t, "IngestFunction").append(ref("DatabaseSecret")))

# -- database settings
template_case("no RDS instance", r"^no AWS::RDS::DBInstance$", lambda t: delete(t["Resources"], "Database"))
template_case("database engine not postgres", r"Database: Engine must be postgres",
              lambda t: props(t, "Database").update(Engine="mysql"))
template_case("database storage not encrypted", r"Database: StorageEncrypted must be true",
              lambda t: props(t, "Database").update(StorageEncrypted=False))
template_case("database without deletion protection", r"Database: DeletionProtection must be true",
              lambda t: props(t, "Database").update(DeletionProtection=False))
template_case("database publicly accessible", r"Database: PubliclyAccessible must be false",
              lambda t: props(t, "Database").update(PubliclyAccessible=True))
template_case("database backups kept 1 day", r"Database: BackupRetentionPeriod must be at least 7",
              lambda t: props(t, "Database").update(BackupRetentionPeriod=1))
template_case("database deleted without a snapshot", r"Database: DeletionPolicy and UpdateReplacePolicy must be Snapshot",
              lambda t: res(t, "Database").update(DeletionPolicy="Delete"))
template_case("cron auth metric filter reworded", r'no metric filter matches the cron-trigger log phrase',
              lambda t: props(t, "CronAuthFailureMetricFilter").update(FilterPattern='"auth failed"'))

# -- CloudFront
template_case("default behaviour allows HTTP", r"Distribution: the default behaviour must redirect HTTP to HTTPS",
              lambda t: props(t, "Distribution")["DistributionConfig"]["DefaultCacheBehavior"].update(ViewerProtocolPolicy="allow-all"))
template_case("/api/* behaviour allows HTTP", r"Distribution: behaviour /api/\* must be HTTPS only",
              lambda t: api_behaviour(t).update(ViewerProtocolPolicy="allow-all"))

# -- origin verification: the secret
template_case("origin-verify secret misnamed", r"OriginVerifySecret: Name must be \$\{AWS::StackName\}/origin-verify",
              lambda t: props(t, "OriginVerifySecret").update(Name="dashboard/origin-verify"))
template_case("no origin-verify secret", r"no AWS::SecretsManager::Secret named \$\{AWS::StackName\}/origin-verify",
              lambda t: props(t, "OriginVerifySecret").update(Name={"Fn::Sub": "${AWS::StackName}/origin-check"}))


def given_secret(t):
    delete(props(t, "OriginVerifySecret"), "GenerateSecretString")
    props(t, "OriginVerifySecret")["SecretString"] = "not-so-secret"


template_case("origin-verify value given, not generated", r"OriginVerifySecret: the origin-verify value must be generated",
              given_secret)
template_case("origin-verify secret as a JSON template", r"OriginVerifySecret: the origin-verify secret must be a plain string",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(
                  SecretStringTemplate="{}", GenerateStringKey="value"))
template_case("origin-verify secret of 32 characters", r"OriginVerifySecret: PasswordLength must be at least 48",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(PasswordLength=32))
template_case("origin-verify secret with punctuation", r"OriginVerifySecret: ExcludePunctuation must be true",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(ExcludePunctuation=False))

# -- origin verification: CloudFront sends it
template_case("no /api/* behaviour", r"^no CloudFront behaviour for /api/\*$",
              lambda t: api_behaviour(t).update(PathPattern="/v1/*"))
template_case("/api/* behaviour not to execute-api", r"Distribution: the /api/\* behaviour must target the HTTP API's execute-api origin",
              lambda t: api_behaviour(t).update(TargetOriginId="dashboard"))
template_case("origin header missing", r"Distribution: origin api must send one X-Origin-Verify custom header",
              lambda t: delete(api_origin(t), "OriginCustomHeaders"))
template_case("origin header with a fixed value", r"Distribution: X-Origin-Verify must be a .*dynamic reference.*'fixed-value'",
              lambda t: api_origin(t)["OriginCustomHeaders"][0].update(HeaderValue="fixed-value"))

# -- origin verification and secrets per function


def unlisted_origin_secret(t):
    secret_resources(t, "HealthFunction").remove(ref("OriginVerifySecret"))


template_case("HTTP function without ORIGIN_VERIFY_SECRET_ARN",
              r"HealthFunction: an HTTP function needs ORIGIN_VERIFY_SECRET_ARN: !Ref OriginVerifySecret",
              lambda t: delete(variables(t, "HealthFunction"), "ORIGIN_VERIFY_SECRET_ARN"))
template_case("ingest with ORIGIN_VERIFY_SECRET_ARN", r"IngestFunction: not an HTTP function; it has no use for ORIGIN_VERIFY_SECRET_ARN",
              lambda t: variables(t, "IngestFunction").update(ORIGIN_VERIFY_SECRET_ARN=ref("OriginVerifySecret")))
template_case("secret granted by ARN string", r"HealthFunction: secretsmanager:GetSecretValue on .*secret:other.*; use !Ref",
              lambda t: secret_resources(t, "HealthFunction").append(
                  "arn:aws:secretsmanager:us-east-1:123456789012:secret:other"))
template_case("cron-trigger on the reader secret", r"CronTriggerFunction: may read DatabaseReaderSecret, but its secrets are",
              lambda t: secret_resources(t, "CronTriggerFunction").append(ref("DatabaseReaderSecret")))
template_case("HTTP function may not read the origin-verify secret",
              r"HealthFunction: needs secretsmanager:GetSecretValue on OriginVerifySecret", unlisted_origin_secret)
template_case("output exposes the execute-api URL", r"Outputs\.ApiUrl: exposes the execute-api endpoint",
              lambda t: t["Outputs"].update(ApiUrl={"Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"}}))

# -- API cache key
template_case("/api/* with a managed cache policy", r"Distribution: the /api/\* behaviour must use a cache policy of this template",
              lambda t: api_behaviour(t).update(CachePolicyId="4135ea2d-6df8-44a3-9df3-4b5a84be39ad"))


def cache_query_strings(t) -> dict:
    return (props(t, "ApiCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
            ["QueryStringsConfig"])


def all_query_strings(t):
    qs = cache_query_strings(t)
    qs["QueryStringBehavior"] = "all"
    delete(qs, "QueryStrings")


template_case("cache policy keyed on all query strings", r"ApiCachePolicy: the cache key's query strings must be exactly .* got all",
              all_query_strings)
template_case("cache key without the limit query string", r"ApiCachePolicy: the cache key's query strings must be exactly",
              lambda t: cache_query_strings(t)["QueryStrings"].remove("limit"))
template_case("origin request policy forwards all query strings", r"ApiOriginRequestPolicy: forwards query strings outside the cache key \(all\)",
              lambda t: props(t, "ApiOriginRequestPolicy")["OriginRequestPolicyConfig"]["QueryStringsConfig"].update(
                  QueryStringBehavior="all"))

# -- read functions' security group


def second_read_group(t):
    t["Resources"]["ReadFunctionSecurityGroupB"] = json.loads(json.dumps(res(t, "ReadFunctionSecurityGroup")))
    props(t, "HealthFunction")["VpcConfig"]["SecurityGroupIds"] = [ref("ReadFunctionSecurityGroupB")]


def foreign_read_group(t):
    t["Parameters"]["ReadGroupId"] = {"Type": "AWS::EC2::SecurityGroup::Id", "Default": "sg-0123456789abcdef0"}
    for f in read_functions(t):
        props(t, f)["VpcConfig"]["SecurityGroupIds"] = [ref("ReadGroupId")]


template_case("read function in two security groups", r"HealthFunction: a read function needs exactly one security group",
              lambda t: props(t, "HealthFunction")["VpcConfig"]["SecurityGroupIds"].append(ref("LambdaSecurityGroup")))
template_case("read functions' group shared with ingest",
              r"its security group ReadFunctionSecurityGroup is shared with \['IngestFunction'\]",
              lambda t: props(t, "IngestFunction")["VpcConfig"].update(SecurityGroupIds=[ref("ReadFunctionSecurityGroup")]))
template_case("read functions in different groups", r"the read functions use different security groups",
              second_read_group)
template_case("read group not a security group of the template",
              r"read functions' security group ReadGroupId is not an AWS::EC2::SecurityGroup of this template",
              foreign_read_group)
template_case("read group without inline egress (allow-all by default)",
              r"ReadFunctionSecurityGroup: needs an inline SecurityGroupEgress",
              lambda t: delete(props(t, "ReadFunctionSecurityGroup"), "SecurityGroupEgress"))
template_case("read function with 0.0.0.0/0 egress", r"ReadFunctionSecurityGroup egress .*: to 0\.0\.0\.0/0; read functions may only reach",
              lambda t: props(t, "ReadFunctionSecurityGroup")["SecurityGroupEgress"].append(
                  {"Description": "HTTPS anywhere", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}))
template_case("read egress not tcp", r"ReadFunctionSecurityGroup egress .*: protocol 'udp'; only tcp",
              lambda t: set_egress(t, IpProtocol="udp"))
template_case("read egress to the database on 3306",
              r"ReadFunctionSecurityGroup egress 'ReadFunctionToDatabaseEgress': ports \(3306, 3306\) to DatabaseSecurityGroup",
              lambda t: props(t, "ReadFunctionToDatabaseEgress").update(FromPort=3306, ToPort=3306))
template_case("database group does not admit the read group",
              r"DatabaseSecurityGroup: does not admit ReadFunctionSecurityGroup on port 5432",
              lambda t: delete(t["Resources"], "DatabaseFromReadFunctionsIngress"))

# -- RDS PostgreSQL log group
template_case("RDS instance without an identifier", r"Database: exports PostgreSQL logs but has no DBInstanceIdentifier",
              lambda t: delete(props(t, "Database"), "DBInstanceIdentifier"))
template_case("RDS identifier not computable from parameters", r"Database: DBInstanceIdentifier cannot be worked out from parameters",
              lambda t: props(t, "Database").update(DBInstanceIdentifier={"Fn::Select": [0, ["a", "b"]]}))
template_case("RDS identifier not valid", r"Database: DBInstanceIdentifier 'Crypto_DB' is not a valid RDS identifier",
              lambda t: props(t, "Database").update(DBInstanceIdentifier="Crypto_DB"))
template_case("no log group for the PostgreSQL log export",
              r"Database: no log group named /aws/rds/instance/prod-crypto-dashboard/postgresql",
              lambda t: props(t, "DatabaseLogGroup")["LogGroupName"]["Fn::If"].__setitem__(2, "/aws/rds/instance/other/postgresql"))
template_case("PostgreSQL log group without retention", r"DatabaseLogGroup: the PostgreSQL log group needs RetentionInDays",
              lambda t: delete(props(t, "DatabaseLogGroup"), "RetentionInDays"))
template_case("RDS instance not after its log group", r"Database: must DependsOn DatabaseLogGroup",
              lambda t: delete(res(t, "Database"), "DependsOn"))

# -- connection budget
template_case("instance class without a planned connection limit", r"DbInstanceClass default 'db\.r6g\.large' has no planned max_connections",
              lambda t: t["Parameters"]["DbInstanceClass"].update(Default="db.r6g.large"))
template_case("read function without DB_POOL_MAX_SIZE", r"HealthFunction: DB_POOL_MAX_SIZE must be set",
              lambda t: delete(variables(t, "HealthFunction"), "DB_POOL_MAX_SIZE"))
template_case("read function without reserved concurrency", r"HealthFunction: ReservedConcurrentExecutions must be set",
              lambda t: delete(props(t, "HealthFunction"), "ReservedConcurrentExecutions"))
template_case("pool size not a number", r"HealthFunction\.DB_POOL_MAX_SIZE: \"many\" is not a number",
              lambda t: variables(t, "HealthFunction").update(DB_POOL_MAX_SIZE="many"))
template_case("read concurrency over the connection budget", r"connection budget on db\.t4g\.micro: .* under the 5 kept for operators",
              lambda t: t["Parameters"]["ReadFunctionReservedConcurrency"].update(Default=10))
template_case("no rule bounds the read concurrency", r"no template rule bounds ReadFunctionReservedConcurrency",
              lambda t: delete(t["Rules"], "ReadConcurrencyFitsMicroInstance"))
template_case("rule allows more read concurrency than fits", r"the rule on ReadFunctionReservedConcurrency allows .*9.*; the budget allows 1\.\.8",
              lambda t: budget_rule(t)[0].append("9"))
template_case("RDS Proxy without MaxConnectionsPercent", r"DatabaseProxyTargetGroup: set ConnectionPoolConfigurationInfo\.MaxConnectionsPercent",
              lambda t: delete(props(t, "DatabaseProxyTargetGroup"), "ConnectionPoolConfigurationInfo"))
template_case("RDS Proxy pool of 100%", r"DatabaseProxyTargetGroup: with RDS Proxy, 80 proxy connections \(100% of 80\)",
              lambda t: props(t, "DatabaseProxyTargetGroup")["ConnectionPoolConfigurationInfo"].update(MaxConnectionsPercent=100))

# -- network: cost-relevant defaults


def nat_gateway_never(t):
    res(t, "NatGateway")["Condition"] = "UseRdsProxy"  # false at the defaults and with nat-gateway


template_case("EgressMode defaults to nat-gateway", r"parameter EgressMode must default to ipv6",
              lambda t: t["Parameters"]["EgressMode"].update(Default="nat-gateway"))
template_case("DbMultiAz defaults to false", r"parameter DbMultiAz must default to \"true\"",
              lambda t: t["Parameters"]["DbMultiAz"].update(Default="false"))
template_case("NAT gateway at the defaults", r"NatGateway \(AWS::EC2::NatGateway\) exists at the parameters' defaults",
              lambda t: delete(res(t, "NatGateway"), "Condition"))
template_case("no NAT gateway with EgressMode=nat-gateway", r"no AWS::EC2::NatGateway exists with EgressMode=nat-gateway",
              nat_gateway_never)

# -- network: the database's isolation and each function's egress


def private_route_to_igw(t):
    route = props(t, "PrivateDefaultRoute")
    delete(route, "NatGatewayId")
    route["GatewayId"] = ref("InternetGateway")


template_case("database dual-stack", r"Database: NetworkType 'DUAL'; the database must stay IPv4-only",
              lambda t: props(t, "Database").update(NetworkType="DUAL"))
template_case("database subnet with public IPv4 addresses", r"PrivateSubnetA: a database subnet that gives public IPv4 addresses",
              lambda t: props(t, "PrivateSubnetA").update(MapPublicIpOnLaunch=True))
template_case("database subnet routed to the internet gateway",
              r"PrivateDefaultRoute: routes the database's subnet PrivateSubnetA to an internet gateway \(EgressMode=nat-gateway\)",
              private_route_to_igw)
template_case("function VpcConfig not computable", r"IngestFunction: its VpcConfig cannot be worked out from parameters",
              lambda t: props(t, "IngestFunction")["VpcConfig"].update(Ipv6AllowedForDualStack={"Fn::Select": [0, [True]]}))
template_case("read function with IPv6",
              r"HealthFunction: Ipv6AllowedForDualStack with defaults; only \['cron-trigger', 'ingest', 'live-quotes'\]",
              lambda t: props(t, "HealthFunction")["VpcConfig"].update(Ipv6AllowedForDualStack=True))
template_case("ingest without a path to the internet (no ::/0 route)",
              r"IngestFunction: no path to the internet with defaults",
              lambda t: delete(t["Resources"], "PrivateIpv6DefaultRoute"))
template_case("cron-trigger on the IPv4-only Lambda API name over IPv6",
              r"CronTriggerFunction: reaches the internet over IPv6 only with defaults.*AWS_ENDPOINT_URL_LAMBDA",
              lambda t: delete(variables(t, "CronTriggerFunction"), "AWS_ENDPOINT_URL_LAMBDA"))
template_case("migrate's subnets without the S3 gateway endpoint",
              r"MigrateFunction: with defaults the route tables of its subnets \['PrivateRouteTable'\] have no S3 gateway endpoint",
              lambda t: props(t, "S3GatewayEndpoint").update(RouteTableIds=[]))

# -- fixed monthly cost
template_case("database class without a price", r"Database: instance class 'db\.m5\.large' has no price",
              lambda t: props(t, "Database").update(DBInstanceClass="db.m5.large"))
template_case("database storage not computable", r"Database: its monthly cost cannot be worked out from parameters",
              lambda t: props(t, "Database").update(AllocatedStorage={"Fn::Select": [0, [20]]}))
template_case("resource type outside the cost model", r"Bastion: resource type AWS::EC2::Instance is not in check_template\.py's cost model",
              lambda t: t["Resources"].update(Bastion={"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-12345678"}}))
template_case("fixed cost over half the original", r"the fixed monthly cost at the defaults, 47\.16 USD, is more than half",
              lambda t: t["Parameters"]["SecretsManagerEndpointAzs"].update(Default="2"))

# -- the files the template is compared with (--root)


def edit_file(path: Path, edit: Callable[[str], str]) -> None:
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def add_crate(root: Path, name: str) -> None:
    crate = root / "functions" / name
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\n')
    (crate / "src" / "main.rs").write_text("fn main() {}\n")


def write_openapi(root: Path, mutate: Callable[[dict], object]) -> None:
    doc = json.loads(json.dumps(BASE_OPENAPI))
    mutate(doc)
    (root / "openapi.yaml").write_text(json.dumps(doc, indent=1), encoding="utf-8")  # JSON is YAML


def bump_headroom(text: str) -> str:
    return sub_once(text, r"^(\| \*\*headroom\*\* \| \*\*)(\d+)",
                    lambda m: f"{m.group(1)}{int(m.group(2)) + 1}")


root_case("[lib] name in a function crate is not a binary (passes)", None,
          lambda root: edit_file(root / "functions/market/Cargo.toml", lambda s: s + '\n[lib]\nname = "market_lib"\n'))
root_case("crate without a template resource", r"crate functions/extra-crate has no template resource",
          lambda root: add_crate(root, "extra-crate"))
root_case("[[bin]] of a crate without a template resource", r"crate functions/market-tool has no template resource",
          lambda root: edit_file(root / "functions/market/Cargo.toml",
                                 lambda s: s + '\n[[bin]]\nname = "market-tool"\npath = "src/tool.rs"\n'))
root_case("template function without a crate", r"template resource MarketFunction builds 'market', which no crate under functions/ defines",
          lambda root: shutil.rmtree(root / "functions" / "market"))
root_case("crate Cargo.toml does not parse", r"market/Cargo\.toml cannot be read",
          lambda root: (root / "functions/market/Cargo.toml").write_text("[package\n"))
root_case("openapi.yaml missing", r"^openapi\.yaml is missing$", lambda root: (root / "openapi.yaml").unlink())
root_case("openapi.yaml does not parse", r"openapi\.yaml cannot be parsed",
          lambda root: (root / "openapi.yaml").write_text("paths: [unclosed\n"))
root_case("template route not in openapi.yaml", r"template route GET /api/market is not in openapi\.yaml",
          lambda root: write_openapi(root, lambda d: delete(d["paths"], "/api/market")))
root_case("openapi.yaml operation without a route", r"openapi\.yaml operation GET /api/extra has no template route",
          lambda root: write_openapi(root, lambda d: d["paths"].update({"/api/extra": d["paths"]["/api/market"]})))
root_case("docs/deploy.md without the budget table", r'docs/deploy\.md has no "Database connection budget" table',
          lambda root: edit_file(root / "docs/deploy.md",
                                 lambda s: sub_once(s, r"^(#+) Database connection budget$", r"\1 Connection planning")))
root_case("docs/deploy.md without the cost table", r'docs/deploy\.md has no "Costs" table with a total row',
          lambda root: edit_file(root / "docs/deploy.md", lambda s: sub_once(s, r"^## Costs$", "## Spending")))
root_case("docs/deploy.md cost total drifted", r"docs/deploy\.md cost table: the total at the defaults says 39\.87",
          lambda root: edit_file(root / "docs/deploy.md",
                                 lambda s: sub_once(s, r"^(\| \*\*total\*\* \|.*\| )\*\*39\.86\*\*", r"\1**39.87**")))
root_case("docs/deploy.md cost option with an undeclared parameter",
          r"docs/deploy\.md cost options: `EndpointAzs=2` sets \['EndpointAzs'\], which the template does not declare",
          lambda root: edit_file(root / "docs/deploy.md",
                                 lambda s: sub_once(s, r"^\| `SecretsManagerEndpointAzs=2` \|", "| `EndpointAzs=2` |")))
root_case("docs/deploy.md cost option total drifted",
          r"docs/deploy\.md cost options: the total with `SecretsManagerEndpointAzs=2` should say 47\.16",
          lambda root: edit_file(root / "docs/deploy.md",
                                 lambda s: sub_once(s, r"^(\| `SecretsManagerEndpointAzs=2` \|.*\| \+7\.30 \| )47\.16", r"\g<1>47.17")))
root_case("docs/deploy.md budget table drifted", r"docs/deploy\.md budget table: the row starting 'headroom' should say \d+, found \[\d+\]",
          lambda root: edit_file(root / "docs/deploy.md", bump_headroom))

# -- samconfig.toml
samconfig_case("samconfig.toml missing", r"samconfig\.toml not found", None)
samconfig_case("samconfig.toml does not parse", r"samconfig\.toml does not parse", lambda s: s + "\n[default.deploy\n")
samconfig_case("stack_name not crypto-dashboard", r"default\.global\.parameters\.stack_name must be crypto-dashboard",
               lambda s: replace_once(s, 'stack_name = "crypto-dashboard"', 'stack_name = "dashboard"'))
samconfig_case("capabilities without CAPABILITY_IAM", r"capabilities must include CAPABILITY_IAM",
               lambda s: sub_once(s, r"^capabilities = .*$", 'capabilities = "CAPABILITY_AUTO_EXPAND"'))
samconfig_case("resolve_s3 false", r"resolve_s3 must be true",
               lambda s: replace_once(s, "resolve_s3 = true", "resolve_s3 = false"))
samconfig_case("sequential build", r"default\.build\.parameters\.parallel must be true",
               lambda s: replace_once(s, "parallel = true", "parallel = false"))
samconfig_case("validate without lint", r"default\.validate\.parameters\.lint must be true",
               lambda s: replace_once(s, "lint = true", "lint = false"))
samconfig_case("a named AWS profile", r"default\.deploy\.parameters sets a profile",
               lambda s: replace_once(s, "resolve_s3 = true", 'resolve_s3 = true\nprofile = "work"'))
samconfig_case("parameter_overrides without EnvironmentName", r"parameter_overrides must set EnvironmentName",
               lambda s: replace_once(s, "EnvironmentName=prod ", ""))
samconfig_case("parameter_overrides outside a parameter's allowed values",
               r"parameter_overrides sets CoinGeckoApiPlan=free, not one of the template's \['public', 'demo', 'pro'\]",
               lambda s: replace_once(s, "CoinGeckoApiPlan=public", "CoinGeckoApiPlan=free"))
samconfig_case("parameter_overrides with an undeclared parameter", r"parameter_overrides sets DbSize, which the template does not declare",
               lambda s: replace_once(s, "EnableWaf=false", "EnableWaf=false DbSize=20"))

# -- missing modules
hidden_module_case("cfn-lint not importable", r"cfn-lint is not importable", "cfnlint")
hidden_module_case("aws-sam-translator not importable", r"aws-sam-translator is not importable", "samtranslator")
hidden_module_case("no tomllib (Python < 3.11): crates", r"has no tomllib .*3\.11", "tomllib")
hidden_module_case("no tomllib (Python < 3.11): samconfig.toml", r"has no tomllib .*3\.11", "tomllib", samconfig=True)


# -- check-deploy.sh refuses a Python older than 3.11 (no skipped samconfig check)
def old_venv(work: Path) -> dict:
    venv = work / "venv"
    executable(venv / "bin" / "python", OLD_PYTHON)
    executable(venv / "bin" / "cfn-lint", SUCCEEDS)
    executable(venv / "bin" / "sam", SUCCEEDS)
    return {"DEPLOY_VENV": str(venv)}


def old_python3(work: Path) -> dict:
    return {"DEPLOY_VENV": str(work / "new-venv"), "DEPLOY_PYTHON": str(executable(work / "python3", OLD_PYTHON))}


check_deploy_case("existing deploy venv on Python 3.10", r"venv .*Python 3\.10\.12.*3\.11", old_venv)
check_deploy_case("python3 is 3.10 when creating the venv", r"Python 3\.10\.12.*3\.11", old_python3)


# --- running ------------------------------------------------------------------------------------

def start_case(case: Case, work: Path) -> int | None:
    """Starts a case's run in a child process; returns its pid, or None (result set) when the
    case cannot be built."""
    work.mkdir()
    try:
        command, extra_env = case.build(work)
    except (Inapplicable, KeyError, IndexError, ValueError) as exc:
        case.result = (False, f"the mutation does not apply ({type(exc).__name__}: {exc}); "
                              f"did the input change? update the case")
        return None
    in_fork = not case.fresh_process and command[:2] == [sys.executable, str(CHECK)]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: never returns
        with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        os.chdir(work)
        os.environ.update(extra_env)
        if not in_fork:
            os.execvp(command[0], command)
        # check_template.py as __main__ with the case's arguments, in this fresh process.
        sys.argv = [str(CHECK), *command[2:]]
        try:
            runpy.run_path(str(CHECK), run_name="__main__")
            code = 0
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported as the case's output
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def finish_case(case: Case, work: Path, returncode: int) -> None:
    stderr = (work / "stderr").read_text(encoding="utf-8", errors="replace")
    case.errors = [line[len("error: "):] for line in stderr.splitlines() if line.startswith("error: ")]
    shown = "\n".join("      | " + line for line in (stderr.strip() or "(no output)").splitlines()[-12:])
    if case.expect is None:
        ok = returncode == 0 and not case.errors
        case.result = (ok, "" if ok else f"expected success, got exit {returncode}:\n{shown}")
    elif returncode == 0:
        case.result = (False, f"expected a failure matching /{case.expect}/, but it passed")
    elif not any(re.search(case.expect, e) for e in case.errors):
        case.result = (False, f"exit {returncode}, but no error line matches /{case.expect}/:\n{shown}")
    else:
        case.result = (True, "")


def run_cases(cases: list[Case], tmp: Path, jobs: int, report: Callable[[Case], None]) -> None:
    """Runs the cases, at most `jobs` at once, and reports each in the listed order."""
    # Forked children inherit these, so each run skips about 0.7 s of imports.
    import cfnlint.decode  # noqa: F401
    import samtranslator.translator.transform  # noqa: F401
    if threading.active_count() != 1:
        sys.exit("error: a thread is running; forking now would be unsafe")
    queue = list(enumerate(cases))
    running: dict[int, tuple[int, float]] = {}  # pid -> (case index, start time)
    killed: set[int] = set()
    done: set[int] = set()
    reported = 0
    while queue or running:
        while queue and len(running) < jobs:
            index, case = queue.pop(0)
            pid = start_case(case, tmp / f"{index:03d}")
            if pid is None:
                done.add(index)
            else:
                running[pid] = (index, time.monotonic())
        if running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                for other, (index, started) in running.items():
                    if time.monotonic() - started > CASE_TIMEOUT and other not in killed:
                        os.kill(other, signal.SIGKILL)
                        killed.add(other)
                time.sleep(0.01)
                continue
            index, _ = running.pop(pid)
            finish_case(cases[index], tmp / f"{index:03d}", os.waitstatus_to_exitcode(status))
            if pid in killed:
                cases[index].result = (False, f"killed after {CASE_TIMEOUT} s")
            done.add(index)
        while reported in done:
            report(cases[reported])
            reported += 1


def error_sites() -> list[tuple[int, str, re.Pattern]]:
    """(line, text, pattern) of every error(...) call in check_template.py; each f-string
    placeholder matches anything."""
    sites = []
    for node in ast.walk(ast.parse(CHECK.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "error"
                and node.args):
            continue
        arg = node.args[0]
        parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
        pattern, text = "", ""
        for part in parts:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                pattern += re.escape(part.value)
                text += part.value
            else:
                pattern += ".*"
                text += "{...}"
        sites.append((node.lineno, text, re.compile(pattern, re.S)))
    return sorted(sites)


def coverage_case(cases: list[Case]) -> Case:
    seen = [e for c in cases for e in c.errors]
    missing = [(line, text) for line, text, pattern in error_sites()
               if not any(pattern.fullmatch(e) for e in seen)]
    case = Case("coverage", "every error(...) in check_template.py fired in some case", None, lambda w: ([], {}))
    if missing:
        case.result = (False, "no case makes these fire; add one each:\n" + "\n".join(
            f"      | check_template.py:{line}: {textwrap.shorten(text, 110)}" for line, text in missing))
    else:
        case.result = (True, "")
    return case


VERBOSE = False


def report(case: Case) -> None:
    ok, detail = case.result
    print(f"{'ok  ' if ok else 'FAIL'}  {case.group:<12} {case.name}", flush=True)
    if detail:
        print(f"      {detail}", flush=True)
    if VERBOSE:
        for e in case.errors:
            print(f"      error: {e}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", metavar="TEXT", help="run only the cases whose group or name contains TEXT")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases run at once (default: CPUs)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every error line of every case")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose

    cases = [c for c in CASES if not args.k or args.k.lower() in f"{c.group} {c.name}".lower()]
    if args.list:
        for c in cases:
            print(f"{c.group:<12} {c.name}  ->  {c.expect or 'passes'}")
        return 0
    if not cases:
        print(f"error: no case matches {args.k!r}", file=sys.stderr)
        return 1
    names = [f"{c.group}: {c.name}" for c in CASES]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        print(f"error: case names used twice: {duplicates}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="check-template-cases-") as tmp:
        run_cases(cases, Path(tmp), max(1, args.jobs), report)
    if args.k:
        print(f"(-k {args.k}: {len(cases)} of {len(CASES)} cases run; the coverage check needs all of them)")
    else:
        cases.append(coverage_case(cases))
        report(cases[-1])
    failed = sum(1 for c in cases if not c.result[0])
    print(f"check_template rules: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
