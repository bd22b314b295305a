#!/usr/bin/env python3
"""Shows every rule of scripts/check_template.py firing, on deliberately broken inputs.

Run by scripts/check-deploy.sh with the deploy venv's Python (cfn-lint reads the template,
aws-sam-translator merges and expands it):

    .local/deploy-venv/bin/python scripts/test_check_template.py [-k TEXT] [-v] [--list] [--jobs N]

Each case makes one change to a copy of an input in a temporary directory and runs
check_template.py's main() on it, in a process forked from this one (its imports done once):
  - template:    template.yaml with one mutation (written as JSON, which CloudFormation and
                 cfn-lint read like the YAML);
  - root:        a copy of the files the template is compared with (functions/*/Cargo.toml and
                 src/main.rs, openapi.yaml, docs/deploy.md) with one mutation;
  - samconfig:   samconfig.toml with one edit, checked with --samconfig;
  - environment: check_template.py run by a new interpreter with a module hidden (cfn-lint,
                 aws-sam-translator, tomllib);
  - check-deploy: scripts/check-deploy.sh given a Python older than 3.11.
A case passes when the run exits non-zero with an "error:" line matching its expectation or, for
the cases named "... passes", exits 0 without one. A mutation that no longer applies (the input
changed under it) or changes nothing fails its case. Last, every error(...) call in
check_template.py must have fired in some case, so a new rule without a case fails.

Prints one line per case (-v: with its error lines), then "check_template rules: N passed, M
failed"; exits 1 when M > 0. Deterministic: fixed inputs, no network, no AWS account.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check_template.py"
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
CASE_TIMEOUT = 300  # seconds for one case

sys.path.insert(0, str(CHECK.parent))
import check_template  # noqa: E402


class Inapplicable(Exception):
    """A mutation whose target is not in the input any more."""


# The template and openapi.yaml as plain JSON values (intrinsics in long form), read as check_template.py does.
BASE_TEMPLATE, BASE_OPENAPI = (check_template.load_template(p) for p in (TEMPLATE, ROOT / "openapi.yaml"))
if check_template.errors or not BASE_TEMPLATE:
    sys.exit(f"error: the inputs do not parse: {check_template.errors}")


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise Inapplicable(f"{old!r} occurs {text.count(old)} times, expected once")
    return text.replace(old, new)


def sub_once(text: str, pattern: str, repl) -> str:
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


def glob(t: dict) -> dict:
    """Globals.Function: what the read functions share."""
    return t["Globals"]["Function"]


def variables(t: dict, name: str | None = None) -> dict:
    return (glob(t) if name is None else props(t, name))["Environment"]["Variables"]


def vpc(t: dict, name: str) -> dict:
    return props(t, name).setdefault("VpcConfig", {})


def read_policy(t: dict) -> list:
    """The statements of ReadFunctionPolicy, the read functions' managed policy."""
    return props(t, "ReadFunctionPolicy")["PolicyDocument"]["Statement"]


def secret_resources(t: dict, name: str) -> list:
    """The Resource list of the GetSecretValue statement of a function's first inline policy (or
    of ReadFunctionPolicy)."""
    stmts = read_policy(t) if name == "ReadFunctionPolicy" else props(t, name)["Policies"][0]["Statement"]
    for stmt in stmts:
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


def delete(d: dict, key: str) -> None:
    if key not in d:
        raise Inapplicable(f"no {key!r} to delete")
    del d[key]


def ref(name: str) -> dict:
    return {"Ref": name}


def role(*managed: str) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/" + m for m in managed]}}


def set_egress(t: dict, **changes) -> None:
    """Changes the read group's inline egress rule (HTTPS to the Secrets Manager endpoint)."""
    rules = props(t, "ReadFunctionSecurityGroup")["SecurityGroupEgress"]
    if len(rules) != 1:
        raise Inapplicable("ReadFunctionSecurityGroup has not exactly one inline egress rule")
    rules[0].update(changes)


# --- cases --------------------------------------------------------------------------------------

@dataclass
class Case:
    group: str
    name: str
    expect: str | None  # a regular expression one "error:" line must match; None: must pass
    # workdir -> check_template.py's arguments (run in this process's fork), or with fresh=True
    # (command, extra environment) for a new process.
    build: Callable[[Path], object]
    fresh: bool = False


CASES: list[Case] = []


def template_case(name: str, expect: str | None, mutate: Callable[[dict], object]) -> None:
    def build(work: Path):
        t = json.loads(json.dumps(BASE_TEMPLATE))
        mutate(t)
        if expect is not None and t == BASE_TEMPLATE:
            raise Inapplicable("the mutation changed nothing")
        (work / "template.json").write_text(json.dumps(t, indent=1), encoding="utf-8")
        return ["--template", work / "template.json", "--root", ROOT]
    CASES.append(Case("template", name, expect, build))


def edit_file(path: Path, edit: Callable[[str], str]) -> None:
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def root_case(name: str, expect: str | None, mutate: Callable[[Path], object]) -> None:
    def build(work: Path):
        root = work / "root"
        for manifest in sorted(ROOT.glob("functions/*/Cargo.toml")):
            crate = root / "functions" / manifest.parent.name
            (crate / "src").mkdir(parents=True)
            shutil.copyfile(manifest, crate / "Cargo.toml")
            if (manifest.parent / "src" / "main.rs").is_file():
                shutil.copyfile(manifest.parent / "src" / "main.rs", crate / "src" / "main.rs")
        (root / "docs").mkdir()
        shutil.copyfile(ROOT / "docs" / "deploy.md", root / "docs" / "deploy.md")
        shutil.copyfile(ROOT / "openapi.yaml", root / "openapi.yaml")
        mutate(root)
        return ["--template", TEMPLATE, "--root", root]
    CASES.append(Case("root", name, expect, build))


def samconfig_case(name: str, expect: str | None, edit: Callable[[str], str] | None) -> None:
    def build(work: Path):
        if edit is not None:
            text = SAMCONFIG.read_text(encoding="utf-8")
            edited = edit(text)
            if expect is not None and edited == text:
                raise Inapplicable("the edit changed nothing")
            (work / "samconfig.toml").write_text(edited, encoding="utf-8")
        return ["--samconfig", work / "samconfig.toml", "--template", TEMPLATE]
    CASES.append(Case("samconfig", name, expect, build))


def hidden_module_case(name: str, expect: str, module: str, samconfig: bool = False) -> None:
    """Runs with `module` unimportable: a stand-in earlier on PYTHONPATH raises on import."""
    def build(work: Path):
        (work / f"{module}.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {module!r} (hidden by the test)'!r}, name={module!r})\n")
        pythonpath = os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")]))
        args = ["--samconfig", str(SAMCONFIG)] if samconfig else []
        return [sys.executable, str(CHECK), *args, "--template", str(TEMPLATE)], {"PYTHONPATH": pythonpath}
    CASES.append(Case("environment", name, expect, build, fresh=True))


def executable(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# A stand-in for a Python 3.10: answers check-deploy.sh's version probe with 3.10.12 and fails
# everything (so a missing guard shows up as another error, never as a venv being installed).
OLD_PYTHON = "#!/bin/sh\necho 3.10.12\nexit 1\n"


def check_deploy_case(name: str, expect: str, prepare: Callable[[Path], dict]) -> None:
    CASES.append(Case("check-deploy", name, expect,
                      lambda work: (["bash", str(ROOT / "scripts" / "check-deploy.sh")], prepare(work)), fresh=True))


# -- the unmodified inputs pass
CASES.append(Case("template", "template.yaml unmodified passes", None, lambda work: ["--template", TEMPLATE]))
template_case("template.yaml as JSON (how mutations are written) passes", None, lambda t: None)
root_case("copy of functions/, openapi.yaml, docs/deploy.md passes", None, lambda root: None)
samconfig_case("samconfig.toml unmodified passes", None, lambda text: text)

# -- reading the template


def duplicate_resources(work: Path):
    (work / "template.yaml").write_text(TEMPLATE.read_text(encoding="utf-8") + "\nResources: {}\n")
    return ["--template", work / "template.yaml"]


CASES.append(Case("template", "template does not parse (duplicate Resources)",
                  r"cannot parse: .*Duplicate found 'Resources'", duplicate_resources))
CASES.append(Case("template", "template file missing", r"missing\.yaml not found",
                  lambda work: ["--template", work / "missing.yaml"]))

# -- IAM
BUCKET = {"Fn::GetAtt": ["DashboardBucket", "Arn"]}
READ_POLICY_AT = r"ReadFunctionPolicy\.Properties\.PolicyDocument\.Statement\[1\]"
template_case("IAM wildcard action", READ_POLICY_AT + r": wildcard action '\*'",
              lambda t: read_policy(t).append({"Effect": "Allow", "Action": "*", "Resource": BUCKET}))
template_case("IAM service wildcard action", r"wildcard action 's3:Get\*'",
              lambda t: read_policy(t).append({"Effect": "Allow", "Action": "s3:Get*", "Resource": BUCKET}))
template_case("IAM action not a literal string", r"Action must be a literal string",
              lambda t: read_policy(t).append({"Effect": "Allow", "Action": ref("LogLevel"), "Resource": BUCKET}))
template_case("IAM Allow with NotAction", r"Allow with NotAction",
              lambda t: read_policy(t).append({"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": BUCKET}))
template_case("IAM Allow with NotResource", r"Allow with NotResource",
              lambda t: read_policy(t).append({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": BUCKET}))
template_case("IAM Resource '*' in an inline policy", r"CronTriggerFunction\.Properties\.Policies.*: Resource '\*'",
              lambda t: props(t, "CronTriggerFunction")["Policies"][0]["Statement"].append(
                  {"Effect": "Allow", "Action": "logs:CreateLogStream", "Resource": "*"}))
template_case("bucket policy Allow to Principal '*'", r"DashboardBucketPolicy.*Allow to Principal '\*'",
              lambda t: props(t, "DashboardBucketPolicy")["PolicyDocument"]["Statement"][0].update(Principal="*"))
template_case("SAM policy template granting Resource '*' (generated role)",
              r"\(generated\) HealthFunctionRole\.Policies.*: Resource '\*'",
              lambda t: props(t, "HealthFunction")["Policies"].append({"CloudWatchPutMetricPolicy": {}}))
template_case("managed policy other than the Lambda basic/VPC roles and the template's own",
              r"\(generated\) HealthFunctionRole: managed policy .*AmazonS3ReadOnlyAccess.* is not one of",
              lambda t: props(t, "HealthFunction")["Policies"].append("AmazonS3ReadOnlyAccess"))


def shared_role(t):
    t["Resources"]["SharedRole"] = role("AWSLambdaVPCAccessExecutionRole")
    for f in ("HealthFunction", "CoinsListFunction"):
        props(t, f)["Role"] = {"Fn::GetAtt": ["SharedRole", "Arn"]}


def own_role_without_vpc_policy(t):
    t["Resources"]["HealthRole"] = role("AWSLambdaBasicExecutionRole")
    delete(props(t, "HealthFunction"), "Policies")
    props(t, "HealthFunction")["Role"] = {"Fn::GetAtt": ["HealthRole", "Arn"]}


template_case("two functions share a role", r"functions HealthFunction and CoinsListFunction share a role", shared_role)
template_case("function in a VPC whose role lacks the VPC execution policy",
              r"HealthFunction: in a VPC but its role lacks AWSLambdaVPCAccessExecutionRole", own_role_without_vpc_policy)
template_case("SAM transform fails (unsupported Globals property)", r"SAM transform failed: .*NoSuchProperty",
              lambda t: glob(t).update(NoSuchProperty=1))

# -- functions: build settings (one function's own value, or the shared one of Globals)
template_case("runtime not provided.al2023", r"HealthFunction: Runtime must be provided\.al2023",
              lambda t: props(t, "HealthFunction").update(Runtime="provided.al2"))
template_case("architecture x86_64 for every function", r"MigrateFunction: Architectures must be \[arm64\]",
              lambda t: glob(t).update(Architectures=["x86_64"]))
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
template_case("read functions' log group without retention",
              r"HealthFunction: LoggingConfig\.LogGroup must Ref a log group with RetentionInDays",
              lambda t: delete(props(t, "ReadFunctionLogGroup"), "RetentionInDays"))
template_case("no function builds migrate", r"no function builds the 'migrate' binary",
              lambda t: delete(t["Resources"], "MigrateFunction"))

# -- HTTP routes


def api_event(t, name="HealthFunction") -> dict:
    return props(t, name)["Events"]["Api"]["Properties"]


def swap_routes(t):
    a, b = api_event(t), api_event(t, "CoinsListFunction")
    a["Path"], b["Path"] = b["Path"], a["Path"]


def extra_route(t):
    props(t, "HealthFunction")["Events"]["Extra"] = {
        "Type": "HttpApi", "Properties": dict(api_event(t), Path="/api/extra")}


template_case("route declared twice", r"route GET /api/health is declared twice",
              lambda t: props(t, "CoinsListFunction")["Events"].update(Again=props(t, "HealthFunction")["Events"]["Api"]))
template_case("route not on the Api (implicit API)", r"HealthFunction\.Events\.Api: ApiId must be !Ref Api",
              lambda t: delete(api_event(t), "ApiId"))
template_case("route with payload format 1.0", r"HealthFunction\.Events\.Api: PayloadFormatVersion must be 2\.0",
              lambda t: api_event(t).update(PayloadFormatVersion="1.0"))
template_case("SPEC route missing", r"route GET /api/health \(function health\) is missing",
              lambda t: delete(props(t, "HealthFunction"), "Events"))
template_case("route wired to the wrong function", r"route GET /api/health goes to coins-list, expected health", swap_routes)
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


def live_schedule_back_on_ingest(t):
    """The layout before live-quotes: the live rule on the ingest function, with an Input."""
    event = props(t, "LiveQuotesFunction")["Events"].pop("Schedule")
    event["Properties"]["Input"] = '{"mode": "latest"}'
    props(t, "IngestFunction")["Events"]["LiveQuotes"] = event


template_case("live schedule sends an Input (recorded as manual)",
              r"LiveQuotesFunction\.Events\.Schedule: sends Input; the function gets it as a manual payload and records "
              r"the scheduled run as trigger manual", lambda t: live_schedule(t).update(Input='{"mode": "latest"}'))
template_case("live schedule back on the ingest function",
              r"IngestFunction\.Events\.LiveQuotes: the ingest function's only schedule is the daily cron\(0 2 \* \* \? \*\)",
              live_schedule_back_on_ingest)
template_case("a schedule on a read function", r"HealthFunction\.Events\.Warm: HealthFunction has a schedule; only ingest and live-quotes",
              lambda t: props(t, "HealthFunction")["Events"].update(
                  Warm={"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}))
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
              r"the shortest refresh interval \(300 s\)", lambda t: props(t, "LiveQuotesFunction").update(Timeout=300))
template_case("live-quotes failures in the ingest DLQ",
              r"LiveQuotesFunction: EventInvokeConfig needs an OnFailure destination of its own \(not ingest's DLQ",
              lambda t: props(t, "LiveQuotesFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"].update(
                  Destination={"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}))
template_case("live alarm on one failed refresh",
              r"LiveQuotesFailingAlarm: must fire on failures in 2 or more consecutive refresh intervals",
              lambda t: props(t, "LiveQuotesFailingAlarm").update(EvaluationPeriods=1, DatapointsToAlarm=1))
template_case("live alarm while the schedule is off", r"LiveQuotesFailingAlarm: must exist only while live quotes are on",
              lambda t: delete(res(t, "LiveQuotesFailingAlarm"), "Condition"))
template_case("live alarm period not computable", r"LiveQuotesFailingAlarm: its Period cannot be worked out from LiveQuotesEveryMinutes",
              lambda t: props(t, "LiveQuotesFailingAlarm")["Period"]["Fn::FindInMap"].__setitem__(0, "NoSuchMapping"))
template_case("live alarm period not one interval",
              r"LiveQuotesFailingAlarm: with LiveQuotesEveryMinutes=5 its Period must be one refresh interval \(300 s\), is 600",
              lambda t: props(t, "LiveQuotesFailingAlarm").update(Period=600))
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

# -- database roles and secrets per function
template_case("read functions on the writer secret", r"HealthFunction: DATABASE_SECRET_ARN must be !Ref DatabaseReaderSecret",
              lambda t: variables(t).update(DATABASE_SECRET_ARN=ref("DatabaseWriterSecret")))
template_case("one read function on the writer secret", r"MarketFunction: DATABASE_SECRET_ARN must be !Ref DatabaseReaderSecret",
              lambda t: props(t, "MarketFunction").update(
                  Environment={"Variables": {"DATABASE_SECRET_ARN": ref("DatabaseWriterSecret")}}))
template_case("ingest may read the owner secret", r"IngestFunction: only the migrate function may read DatabaseSecret",
              lambda t: secret_resources(t, "IngestFunction").append(ref("DatabaseSecret")))
template_case("migrate through RDS Proxy (DB_HOST inherited)", r"MigrateFunction: DB_HOST is set",
              lambda t: delete(variables(t, "MigrateFunction"), "DB_HOST"))
template_case("HTTP functions without ORIGIN_VERIFY_SECRET_ARN",
              r"HealthFunction: an HTTP function needs ORIGIN_VERIFY_SECRET_ARN: !Ref OriginVerifySecret",
              lambda t: delete(variables(t), "ORIGIN_VERIFY_SECRET_ARN"))
template_case("ingest inherits ORIGIN_VERIFY_SECRET_ARN", r"IngestFunction: not an HTTP function; it has no use for ORIGIN_VERIFY_SECRET_ARN",
              lambda t: delete(variables(t, "IngestFunction"), "ORIGIN_VERIFY_SECRET_ARN"))
template_case("secret granted by ARN string", r"HealthFunction: secretsmanager:GetSecretValue on .*secret:other.*; use !Ref",
              lambda t: secret_resources(t, "ReadFunctionPolicy").append(
                  "arn:aws:secretsmanager:us-east-1:123456789012:secret:other"))
template_case("cron-trigger back on the writer secret", r"CronTriggerFunction: DATABASE_SECRET_ARN must be !Ref DatabaseTriggerSecret",
              lambda t: variables(t, "CronTriggerFunction").update(DATABASE_SECRET_ARN=ref("DatabaseWriterSecret")))
template_case("migrate does not keep the trigger role in step",
              r"MigrateFunction: DATABASE_TRIGGER_SECRET_ARN must be !Ref DatabaseTriggerSecret",
              lambda t: delete(variables(t, "MigrateFunction"), "DATABASE_TRIGGER_SECRET_ARN"))
template_case("trigger role's secret never rotated", r"DatabaseTriggerSecret: a database role's secret without a RotationSchedule",
              lambda t: delete(t["Resources"], "DatabaseTriggerSecretRotation"))
template_case("cron-trigger on the reader secret", r"CronTriggerFunction: may read DatabaseReaderSecret, but its secrets are",
              lambda t: secret_resources(t, "CronTriggerFunction").append(ref("DatabaseReaderSecret")))
template_case("HTTP function may not read the origin-verify secret",
              r"HealthFunction: needs secretsmanager:GetSecretValue on OriginVerifySecret",
              lambda t: secret_resources(t, "ReadFunctionPolicy").remove(ref("OriginVerifySecret")))

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

# -- CloudFront, outputs
template_case("default behaviour allows HTTP", r"Distribution: the default behaviour must redirect HTTP to HTTPS",
              lambda t: props(t, "Distribution")["DistributionConfig"]["DefaultCacheBehavior"].update(ViewerProtocolPolicy="allow-all"))
template_case("/api/* behaviour allows HTTP", r"Distribution: behaviour /api/\* must be HTTPS only",
              lambda t: api_behaviour(t).update(ViewerProtocolPolicy="allow-all"))
template_case("output exposes the execute-api URL", r"Outputs\.ApiUrl: exposes the execute-api endpoint",
              lambda t: t["Outputs"].update(ApiUrl={"Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"}}))

# -- origin verification: the secret, and CloudFront sending it
template_case("origin-verify secret misnamed", r"OriginVerifySecret: Name must be \$\{AWS::StackName\}/origin-verify",
              lambda t: props(t, "OriginVerifySecret").update(Name="dashboard/origin-verify"))
template_case("no origin-verify secret", r"no AWS::SecretsManager::Secret named \$\{AWS::StackName\}/origin-verify",
              lambda t: props(t, "OriginVerifySecret").update(Name={"Fn::Sub": "${AWS::StackName}/origin-check"}))
template_case("origin-verify value given, not generated", r"OriginVerifySecret: the origin-verify value must be generated",
              lambda t: props(t, "OriginVerifySecret").update(SecretString="not-so-secret"))
template_case("origin-verify secret as a JSON template", r"OriginVerifySecret: the origin-verify secret must be a plain string",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(
                  SecretStringTemplate="{}", GenerateStringKey="value"))
template_case("origin-verify secret of 32 characters", r"OriginVerifySecret: PasswordLength must be at least 48",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(PasswordLength=32))
template_case("origin-verify secret with punctuation", r"OriginVerifySecret: ExcludePunctuation must be true",
              lambda t: props(t, "OriginVerifySecret")["GenerateSecretString"].update(ExcludePunctuation=False))
template_case("no /api/* behaviour", r"^no CloudFront behaviour for /api/\*$",
              lambda t: api_behaviour(t).update(PathPattern="/v1/*"))
template_case("/api/* behaviour not to execute-api", r"Distribution: the /api/\* behaviour must target the HTTP API's execute-api origin",
              lambda t: api_behaviour(t).update(TargetOriginId="dashboard"))
template_case("origin header missing", r"Distribution: origin api must send one X-Origin-Verify custom header",
              lambda t: delete(api_origin(t), "OriginCustomHeaders"))
template_case("origin header with a fixed value", r"Distribution: X-Origin-Verify must be a .*dynamic reference.*'fixed-value'",
              lambda t: api_origin(t)["OriginCustomHeaders"][0].update(HeaderValue="fixed-value"))

# -- API cache key


def cache_query_strings(t) -> dict:
    return props(t, "ApiCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]


def market_behaviour(t) -> dict:
    for b in props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]:
        if b.get("PathPattern") == "/api/market*":
            return b
    raise Inapplicable("no /api/market* behaviour")


def market_query_strings(t) -> dict:
    return props(t, "MarketCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]


def move_market_behaviour_last(t):
    behaviours = props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]
    market = market_behaviour(t)
    behaviours.remove(market)
    behaviours.append(market)


def all_query_strings(t):
    cache_query_strings(t)["QueryStringBehavior"] = "all"
    delete(cache_query_strings(t), "QueryStrings")


template_case("/api/* with a managed cache policy", r"Distribution: the /api/\* behaviour must use a cache policy of this template",
              lambda t: api_behaviour(t).update(CachePolicyId="4135ea2d-6df8-44a3-9df3-4b5a84be39ad"))
template_case("cache policy keyed on all query strings", r"ApiCachePolicy: the cache key's query strings must be exactly .* got all",
              all_query_strings)
template_case("more query strings than CloudFront's quota", r"ApiCachePolicy: 11 query strings exceed CloudFront's quota of 10",
              lambda t: cache_query_strings(t)["QueryStrings"].extend(["a", "b", "c"]))
template_case("cache key without the limit query string", r"ApiCachePolicy: the cache key's query strings must be exactly",
              lambda t: cache_query_strings(t)["QueryStrings"].remove("limit"))
template_case("cache key with a market parameter the routes it serves do not read",
              r"ApiCachePolicy: the cache key's query strings must be exactly the query parameters of the routes its behaviours serve",
              lambda t: cache_query_strings(t)["QueryStrings"].append("page"))
template_case("market cache key without ids", r"MarketCachePolicy: the cache key's query strings must be exactly",
              lambda t: market_query_strings(t)["QueryStrings"].remove("ids"))
template_case("market behaviour after /api/* (so never used)",
              r"ApiCachePolicy: the cache key's query strings must be exactly .*'ids'.*'perPage'",
              move_market_behaviour_last)
template_case("market behaviour with a managed cache policy",
              r"Distribution: /api/market reads \['currency', 'ids', .*\] through behaviour /api/market\*, whose cache policy is not one of this template",
              lambda t: market_behaviour(t).update(CachePolicyId="4135ea2d-6df8-44a3-9df3-4b5a84be39ad"))
template_case("origin request policy forwards all query strings", r"ApiOriginRequestPolicy: forwards query strings outside the cache key \(all\)",
              lambda t: props(t, "ApiOriginRequestPolicy")["OriginRequestPolicyConfig"]["QueryStringsConfig"].update(
                  QueryStringBehavior="all"))

# -- the prices route's Accept, decided at the edge into the query string


def prices_behaviour(t) -> dict:
    for b in props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]:
        if b.get("PathPattern") == "/api/coins/*/prices*":
            return b
    raise Inapplicable("no /api/coins/*/prices* behaviour")


def edit_prices_function(t, old: str, new: str) -> None:
    code = props(t, "PricesFormatFunction")
    code["FunctionCode"] = replace_once(code["FunctionCode"], old, new)


def without_prices_behaviour(t):
    props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"].remove(prices_behaviour(t))


template_case("prices behaviour without the Accept function",
              r"Distribution: behaviour /api/coins/\*/prices\* serves /api/coins/\{id\}/prices, whose answer Accept may "
              r"choose, without a viewer-request cloudfront-js-2.0 function",
              lambda t: delete(prices_behaviour(t), "FunctionAssociations"))
template_case("prices served by /api/* (no behaviour of its own)",
              r"Distribution: behaviour /api/\* serves /api/coins/\{id\}/prices, whose answer Accept may choose, without",
              without_prices_behaviour)
template_case("Accept function on the cloudfront-js-1.0 runtime",
              r"behaviour /api/coins/\*/prices\* serves .* without a viewer-request cloudfront-js-2.0 function",
              lambda t: props(t, "PricesFormatFunction")["FunctionConfig"].update(Runtime="cloudfront-js-1.0"))
template_case("prices behaviour that misses the trailing-slash path",
              r"Distribution: /api/coins/bitcoin/prices/ is served by behaviour /api/\*, /api/coins/bitcoin/prices by "
              r"/api/coins/\*/prices; the API answers both alike",
              lambda t: prices_behaviour(t).update(PathPattern="/api/coins/*/prices"))
template_case("Accept function that does not run", r"PricesFormatFunction: its code does not run under node: SyntaxError",
              lambda t: edit_prices_function(t, "function handler(event) {", "function handler(event) {{"))
template_case("Accept function that throws", r"PricesFormatFunction: chooses unlike the API .* in 36 of 36 cases .*"
              r"Accept None without format gives \{'error': 'ReferenceError: evnt is not defined'\}, not format=json",
              lambda t: edit_prices_function(t, "var request = event.request,", "var request = evnt.request,"))
template_case("Accept function that never chooses CSV",
              r"PricesFormatFunction: chooses unlike the API .*: Accept 'text/csv' without format gives .*'json'.*, not format=csv",
              lambda t: edit_prices_function(t, "value: csv ? 'csv' : 'json'", "value: 'json'"))
template_case("Accept function that ignores the quality of application/json",
              r"PricesFormatFunction: chooses unlike the API .*: Accept 'application/json, text/csv;q=0\.9' without format "
              r"gives .*'csv'.*, not format=json",
              lambda t: edit_prices_function(t, "> quality(accept, 'application', 'json')", "> 0"))
template_case("Accept function that overrides a given format",
              r"PricesFormatFunction: chooses unlike the API .* in 2 of 36 cases .*: format=json with Accept text/csv gives "
              r".*'csv'.*, not format=json",
              lambda t: edit_prices_function(t, "if (!request.querystring.format) {", "if (true) {"))


def without_node(work: Path):
    """check_template.py with a PATH that holds no node (its interpreter by absolute path)."""
    return [sys.executable, str(CHECK), "--template", str(TEMPLATE)], {"PATH": str(work)}


CASES.append(Case("environment", "node missing", r"PricesFormatFunction: node \(Node\.js 20\) is needed", without_node,
                  fresh=True))

# -- what one client can make the origin do: the GET cache key, the cron behaviour, the WAF


def cache_headers(t) -> dict:
    return props(t, "ApiCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]


def cron_behaviour(t) -> dict:
    for b in props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]:
        if b.get("PathPattern") == "/api/cron/*":
            return b
    raise Inapplicable("no /api/cron/* behaviour")


def cron_after_api(t):
    behaviours = props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"]
    behaviours.remove(cron_behaviour(t))
    behaviours.append(cron_behaviour_copy := json.loads(json.dumps(CRON_BEHAVIOUR)))
    return cron_behaviour_copy


def cron_policy(t) -> dict:
    return props(t, "CronCachePolicy")["CachePolicyConfig"]


def waf_rules(t) -> list:
    return props(t, "WebAcl")["Rules"]


CRON_BEHAVIOUR = cron_behaviour(BASE_TEMPLATE)
template_case("Authorization in the GET cache key", r"ApiCachePolicy: header Authorization is in the GET cache key with defaults",
              lambda t: cache_headers(t).update(HeadersConfig={"HeaderBehavior": "whitelist", "Headers": ["Authorization"]}))
template_case("Authorization in the market's GET cache key",
              r"MarketCachePolicy: header Authorization is in the GET cache key with defaults",
              lambda t: props(t, "MarketCachePolicy")["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
              .update(HeadersConfig={"HeaderBehavior": "whitelist", "Headers": ["Authorization", "Origin"]}))
template_case("Origin in the GET cache key without CORS", r"ApiCachePolicy: header Origin is in the GET cache key with defaults",
              lambda t: cache_headers(t).update(HeadersConfig={"HeaderBehavior": "whitelist", "Headers": ["Origin"]}))
template_case("every viewer header in the GET cache key", r"ApiCachePolicy: HeaderBehavior 'allViewer' with defaults",
              lambda t: cache_headers(t).update(HeadersConfig={"HeaderBehavior": "allViewer"}))
template_case("GET cache key headers not computable", r"ApiCachePolicy: its cache key's headers cannot be worked out",
              lambda t: cache_headers(t).update(HeadersConfig={"Fn::If": ["NoSuchCondition", {}, {}]}))
template_case("no behaviour of its own for the cron route", r"Distribution: no behaviour for /api/cron/fetch-data before /api/\*",
              lambda t: props(t, "Distribution")["DistributionConfig"]["CacheBehaviors"].remove(cron_behaviour(t)))
template_case("cron behaviour after /api/*", r"Distribution: no behaviour for /api/cron/fetch-data before /api/\*", cron_after_api)
template_case("cron behaviour without POST", r"Distribution: the /api/cron/fetch-data behaviour must allow POST",
              lambda t: cron_behaviour(t).update(AllowedMethods=["GET", "HEAD"]))
template_case("cron behaviour caching 5 minutes", r"CronCachePolicy: the cron behaviour's cache policy must key on Authorization",
              lambda t: cron_policy(t).update(DefaultTTL=300, MaxTTL=3600))
template_case("cron behaviour without Authorization", r"CronCachePolicy: the cron behaviour's cache policy must key on Authorization",
              lambda t: cron_policy(t)["ParametersInCacheKeyAndForwardedToOrigin"].update(
                  HeadersConfig={"HeaderBehavior": "none"}))
template_case("WAF off by default", r"Distribution: at the defaults in us-east-1 no WAF web ACL with a per-IP rate-based Block rule",
              lambda t: t["Parameters"]["EnableWaf"].update(Default="false"))
template_case("WAF without the rate-based rule", r"Distribution: at the defaults in us-east-1 no WAF web ACL with a per-IP rate-based Block rule",
              lambda t: waf_rules(t).pop())
template_case("WAF rate rule that only counts", r"Distribution: at the defaults in us-east-1 no WAF web ACL with a per-IP rate-based Block rule",
              lambda t: waf_rules(t)[-1].update(Action={"Count": {}}))
template_case("WebACLId not computable", r"Distribution: WebACLId cannot be worked out from parameters",
              lambda t: props(t, "Distribution")["DistributionConfig"].update(WebACLId={"Fn::If": ["NoSuchCondition", "a", "b"]}))
template_case("WAF rule that fails the defaults outside us-east-1", r"Rules\.WafNeedsUsEast1: fails a deploy at the defaults in eu-west-1",
              lambda t: t["Rules"]["WafNeedsUsEast1"].update(RuleCondition={"Fn::Not": [{"Fn::Equals": [ref("EnableWaf"), "false"]}]}))

# -- CloudFront access logs
template_case("CloudFront without access logs", r"Distribution: no standard logging to a bucket of this template",
              lambda t: delete(props(t, "Distribution")["DistributionConfig"], "Logging"))
template_case("CloudFront logs kept forever", r"LogsBucket: CloudFront's log bucket needs an enabled lifecycle rule with ExpirationInDays",
              lambda t: delete(props(t, "LogsBucket"), "LifecycleConfiguration"))
template_case("CloudFront log bucket without ACLs", r"LogsBucket: CloudFront standard logging writes with an ACL",
              lambda t: props(t, "LogsBucket")["OwnershipControls"]["Rules"][0].update(ObjectOwnership="BucketOwnerEnforced"))

# -- the API function alarms (from the API access log)


def access_log_without_status(t):
    settings = props(t, "Api")["AccessLogSettings"]
    settings["Format"] = replace_once(settings["Format"], '"integrationStatus":"$context.integration.integrationStatus",', "")


template_case("access log without the integration status", r"Api: its JSON access log must record \$context\.integration\.integrationStatus",
              access_log_without_status)
template_case("no metric filter counts API function errors", r"Api: no metric filter on its access log .* counts API function errors",
              lambda t: delete(t["Resources"], "ApiFunctionErrorsMetricFilter"))
template_case("throttle filter on another status", r"Api: no metric filter on its access log .* counts API function throttles",
              lambda t: props(t, "ApiFunctionThrottlesMetricFilter").update(FilterPattern='{ $.integrationStatus = "500" }'))
template_case("API function errors alarm at 5", r"no alarm fires on the first of the API function errors",
              lambda t: props(t, "ApiFunctionErrorsAlarm").update(Threshold=5))

# -- read functions' security group


def second_read_group(t):
    t["Resources"]["ReadFunctionSecurityGroupB"] = json.loads(json.dumps(res(t, "ReadFunctionSecurityGroup")))
    vpc(t, "HealthFunction")["SecurityGroupIds"] = [ref("ReadFunctionSecurityGroupB")]


def foreign_read_group(t):
    t["Parameters"]["ReadGroupId"] = {"Type": "AWS::EC2::SecurityGroup::Id", "Default": "sg-0123456789abcdef0"}
    glob(t)["VpcConfig"]["SecurityGroupIds"] = {"Fn::Split": [",", ref("ReadGroupId")]}


template_case("read function in two security groups", r"HealthFunction: a read function needs exactly one security group",
              lambda t: vpc(t, "HealthFunction").update(SecurityGroupIds=[ref("ReadFunctionSecurityGroup"), ref("LambdaSecurityGroup")]))
template_case("read functions' group as a list (appended to the others' groups)",
              r"its security group ReadFunctionSecurityGroup is shared with \['CronTriggerFunction'",
              lambda t: glob(t)["VpcConfig"].update(SecurityGroupIds=[ref("ReadFunctionSecurityGroup")]))
template_case("read functions' group shared with ingest",
              r"its security group ReadFunctionSecurityGroup is shared with \['IngestFunction'\]",
              lambda t: vpc(t, "IngestFunction").update(SecurityGroupIds=[ref("ReadFunctionSecurityGroup")]))
template_case("read functions in different groups", r"the read functions use different security groups", second_read_group)
template_case("read group not a security group of the template",
              r"read functions' security group ReadGroupId is not an AWS::EC2::SecurityGroup of this template", foreign_read_group)
template_case("read group without inline egress (allow-all by default)", r"ReadFunctionSecurityGroup: needs an inline SecurityGroupEgress",
              lambda t: delete(props(t, "ReadFunctionSecurityGroup"), "SecurityGroupEgress"))
template_case("read function with 0.0.0.0/0 egress", r"ReadFunctionSecurityGroup egress .*: to 0\.0\.0\.0/0; read functions may only reach",
              lambda t: props(t, "ReadFunctionSecurityGroup")["SecurityGroupEgress"].append(
                  {"Description": "HTTPS anywhere", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}))
template_case("read egress not tcp", r"ReadFunctionSecurityGroup egress .*: protocol 'udp'; only tcp",
              lambda t: set_egress(t, IpProtocol="udp"))
template_case("read egress to the database on 3306",
              r"ReadFunctionSecurityGroup egress 'ReadFunctionToDatabaseEgress': ports \(3306, 3306\) to DatabaseSecurityGroup",
              lambda t: props(t, "ReadFunctionToDatabaseEgress").update(FromPort=3306, ToPort=3306))
template_case("database group does not admit the read group", r"DatabaseSecurityGroup: does not admit ReadFunctionSecurityGroup on port 5432",
              lambda t: delete(t["Resources"], "DatabaseFromReadFunctionsIngress"))

# -- RDS PostgreSQL log group
template_case("RDS instance without an identifier", r"Database: exports PostgreSQL logs but has no DBInstanceIdentifier",
              lambda t: delete(props(t, "Database"), "DBInstanceIdentifier"))
template_case("RDS identifier not computable from parameters", r"Database: DBInstanceIdentifier cannot be worked out from parameters",
              lambda t: props(t, "Database").update(DBInstanceIdentifier={"Fn::Select": [0, ["a", "b"]]}))
template_case("RDS identifier not valid", r"Database: DBInstanceIdentifier 'Crypto_DB' is not a valid RDS identifier",
              lambda t: props(t, "Database").update(DBInstanceIdentifier="Crypto_DB"))
template_case("no log group for the PostgreSQL log export", r"Database: no log group named /aws/rds/instance/prod-crypto-dashboard/postgresql",
              lambda t: props(t, "DatabaseLogGroup")["LogGroupName"]["Fn::If"].__setitem__(2, "/aws/rds/instance/other/postgresql"))
template_case("PostgreSQL log group without retention", r"DatabaseLogGroup: the PostgreSQL log group needs RetentionInDays",
              lambda t: delete(props(t, "DatabaseLogGroup"), "RetentionInDays"))
template_case("RDS instance not after its log group", r"Database: must DependsOn DatabaseLogGroup",
              lambda t: delete(res(t, "Database"), "DependsOn"))

# -- connection budget (the read functions' pool size and concurrency are Globals')
template_case("instance class without a planned connection limit", r"DbInstanceClass default 'db\.r6g\.large' has no planned max_connections",
              lambda t: t["Parameters"]["DbInstanceClass"].update(Default="db.r6g.large"))
template_case("read functions without DB_POOL_MAX_SIZE", r"HealthFunction: DB_POOL_MAX_SIZE must be set",
              lambda t: delete(variables(t), "DB_POOL_MAX_SIZE"))
template_case("read functions without reserved concurrency", r"HealthFunction: ReservedConcurrentExecutions must be set",
              lambda t: delete(glob(t), "ReservedConcurrentExecutions"))
template_case("pool size not a number", r"HealthFunction\.DB_POOL_MAX_SIZE: \"many\" is not a number",
              lambda t: variables(t).update(DB_POOL_MAX_SIZE="many"))
template_case("read concurrency over the connection budget", r"connection budget on db\.t4g\.micro: .* under the 5 kept for operators",
              lambda t: t["Parameters"]["ReadFunctionReservedConcurrency"].update(Default=10))
template_case("no rule bounds the read concurrency", r"no template rule bounds ReadFunctionReservedConcurrency",
              lambda t: delete(t["Rules"], "ReadConcurrencyFitsMicroInstance"))
template_case("rule allows more read concurrency than fits", r"the rule on ReadFunctionReservedConcurrency allows .*9.*; the budget allows 1\.\.8",
              lambda t: t["Rules"]["ReadConcurrencyFitsMicroInstance"]["Assertions"][0]["Assert"]["Fn::Contains"][0].append("9"))
template_case("RDS Proxy without MaxConnectionsPercent", r"DatabaseProxyTargetGroup: set ConnectionPoolConfigurationInfo\.MaxConnectionsPercent",
              lambda t: delete(props(t, "DatabaseProxyTargetGroup"), "ConnectionPoolConfigurationInfo"))
template_case("RDS Proxy pool of 100%", r"DatabaseProxyTargetGroup: with RDS Proxy, 80 proxy connections \(100% of 80\)",
              lambda t: props(t, "DatabaseProxyTargetGroup")["ConnectionPoolConfigurationInfo"].update(MaxConnectionsPercent=100))

# -- network: cost-relevant defaults, the database's isolation, each function's egress


def private_route_to_igw(t):
    delete(props(t, "PrivateDefaultRoute"), "NatGatewayId")
    props(t, "PrivateDefaultRoute")["GatewayId"] = ref("InternetGateway")


template_case("EgressMode defaults to nat-gateway", r"parameter EgressMode must default to ipv6",
              lambda t: t["Parameters"]["EgressMode"].update(Default="nat-gateway"))
template_case("DbMultiAz defaults to false", r"parameter DbMultiAz must default to \"true\"",
              lambda t: t["Parameters"]["DbMultiAz"].update(Default="false"))
template_case("NAT gateway at the defaults", r"NatGateway \(AWS::EC2::NatGateway\) exists at the parameters' defaults",
              lambda t: delete(res(t, "NatGateway"), "Condition"))
template_case("no NAT gateway with EgressMode=nat-gateway", r"no AWS::EC2::NatGateway exists with EgressMode=nat-gateway",
              lambda t: res(t, "NatGateway").update(Condition="UseRdsProxy"))  # false at the defaults and with nat-gateway
template_case("database dual-stack", r"Database: NetworkType 'DUAL'; the database must stay IPv4-only",
              lambda t: props(t, "Database").update(NetworkType="DUAL"))
template_case("database subnet with public IPv4 addresses", r"PrivateSubnetA: a database subnet that gives public IPv4 addresses",
              lambda t: props(t, "PrivateSubnetA").update(MapPublicIpOnLaunch=True))
template_case("database subnet routed to the internet gateway",
              r"PrivateDefaultRoute: routes the database's subnet PrivateSubnetA to an internet gateway \(EgressMode=nat-gateway\)",
              private_route_to_igw)
template_case("function VpcConfig not computable", r"IngestFunction: its VpcConfig cannot be worked out from parameters",
              lambda t: vpc(t, "IngestFunction").update(Ipv6AllowedForDualStack={"Fn::Select": [0, [True]]}))
template_case("read function with IPv6", r"HealthFunction: Ipv6AllowedForDualStack with defaults; only \['cron-trigger', 'ingest', 'live-quotes'\]",
              lambda t: vpc(t, "HealthFunction").update(Ipv6AllowedForDualStack=True))
template_case("ingest without a path to the internet (no ::/0 route)", r"IngestFunction: no path to the internet with defaults",
              lambda t: delete(t["Resources"], "PrivateIpv6DefaultRoute"))
template_case("cron-trigger on the IPv4-only Lambda API name over IPv6",
              r"CronTriggerFunction: reaches the internet over IPv6 only with defaults.*AWS_ENDPOINT_URL_LAMBDA",
              lambda t: delete(variables(t, "CronTriggerFunction"), "AWS_ENDPOINT_URL_LAMBDA"))
template_case("migrate's subnets without the S3 gateway endpoint",
              r"MigrateFunction: with defaults the route tables of its subnets \['PrivateRouteTable'\] have no S3 gateway endpoint",
              lambda t: props(t, "S3GatewayEndpoint").update(RouteTableIds=[]))

# -- each group no wider than what its functions call; the S3 endpoint; the proxy's logins


def owner_through_proxy(t):
    props(t, "DatabaseProxy")["Auth"].append({"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": ref("DatabaseSecret")})


template_case("rotation Lambdas in the internet group", r"DatabaseWriterSecretRotation: its rotation Lambda's group LambdaSecurityGroup has egress",
              lambda t: props(t, "DatabaseWriterSecretRotation")["HostedRotationLambda"].update(VpcSecurityGroupIds=ref("LambdaSecurityGroup")))
template_case("migrate in the internet group", r"MigrateFunction: shares \['LambdaSecurityGroup'\] with ingest/live-quotes",
              lambda t: vpc(t, "MigrateFunction").update(SecurityGroupIds=[ref("LambdaSecurityGroup")]))
template_case("migrate's group with IPv6 egress", r"MigrateSecurityGroup egress .*: to ::/0; migrate calls nothing over IPv6",
              lambda t: props(t, "MigrateSecurityGroup")["SecurityGroupEgress"].append(
                  {"Description": "HTTPS over IPv6", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "::/0"}))
template_case("cron-trigger with IPv4 to anywhere at the defaults",
              r"CronTriggerSecurityGroup egress 'CronTriggerIpv4HttpsEgress': to 0\.0\.0\.0/0 at the defaults",
              lambda t: delete(res(t, "CronTriggerIpv4HttpsEgress"), "Condition"))
template_case("S3 gateway endpoint without a policy", r"S3GatewayEndpoint: the S3 gateway endpoint needs a policy allowing only s3:PutObject",
              lambda t: delete(props(t, "S3GatewayEndpoint"), "PolicyDocument"))
template_case("S3 gateway endpoint open to every bucket", r"S3GatewayEndpoint: the S3 gateway endpoint needs a policy allowing only s3:PutObject",
              lambda t: props(t, "S3GatewayEndpoint")["PolicyDocument"]["Statement"][0].update(Resource="arn:aws:s3:::*/*"))
template_case("S3 gateway endpoint policy not computable", r"S3GatewayEndpoint: the S3 gateway endpoint needs a policy allowing only s3:PutObject",
              lambda t: props(t, "S3GatewayEndpoint")["PolicyDocument"]["Statement"][0].update(Resource={"Fn::GetAtt": ["X", "Arn"]}))
template_case("RDS Proxy accepts the owner login", r"DatabaseProxy: accepts the owner login \(DatabaseSecret\)", owner_through_proxy)

# -- fixed monthly cost
template_case("database class without a price", r"Database: instance class 'db\.m5\.large' has no price",
              lambda t: props(t, "Database").update(DBInstanceClass="db.m5.large"))
template_case("database storage not computable", r"Database: its monthly cost cannot be worked out from parameters",
              lambda t: props(t, "Database").update(AllocatedStorage={"Fn::Select": [0, [20]]}))
template_case("resource type outside the cost model", r"Bastion: resource type AWS::EC2::Instance is not in check_template\.py's cost model",
              lambda t: t["Resources"].update(Bastion={"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-12345678"}}))
template_case("fixed cost over half the original", r"the fixed monthly cost at the defaults, 52\.16 USD, is more than half",
              lambda t: t["Parameters"]["SecretsManagerEndpointAzs"].update(Default="2"))

# -- the files the template is compared with (--root)


def add_crate(root: Path, name: str) -> None:
    (root / "functions" / name / "src").mkdir(parents=True)
    (root / "functions" / name / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\n')
    (root / "functions" / name / "src" / "main.rs").write_text("fn main() {}\n")


def write_openapi(root: Path, mutate: Callable[[dict], object]) -> None:
    doc = json.loads(json.dumps(BASE_OPENAPI))
    mutate(doc)
    (root / "openapi.yaml").write_text(json.dumps(doc, indent=1), encoding="utf-8")  # JSON is YAML


def deploy_md(edit: Callable[[str], str]) -> Callable[[Path], None]:
    return lambda root: edit_file(root / "docs" / "deploy.md", edit)


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
root_case("a query parameter the cache key does not forward",
          r"MarketCachePolicy: the cache key's query strings must be exactly the query parameters of the routes its behaviours serve",
          lambda root: write_openapi(root, lambda d: d["paths"]["/api/market"]["get"]["parameters"].append(
              {"name": "interval", "in": "query", "schema": {"type": "string"}})))
root_case("a coins parameter the API's cache key does not forward",
          r"ApiCachePolicy: the cache key's query strings must be exactly .*'page'",
          lambda root: write_openapi(root, lambda d: d["paths"]["/api/coins"]["get"]["parameters"].append(
              {"name": "page", "in": "query", "schema": {"type": "integer"}})))
root_case("openapi.yaml operation without a route", r"openapi\.yaml operation GET /api/extra has no template route",
          lambda root: write_openapi(root, lambda d: d["paths"].update({"/api/extra": d["paths"]["/api/market"]})))
root_case("docs/deploy.md without the budget table", r'docs/deploy\.md has no "Database connection budget" table',
          deploy_md(lambda s: sub_once(s, r"^(#+) Database connection budget$", r"\1 Connection planning")))
root_case("docs/deploy.md without the cost table", r'docs/deploy\.md has no "Costs" table with a total row',
          deploy_md(lambda s: sub_once(s, r"^## Costs$", "## Spending")))
root_case("docs/deploy.md cost total drifted", r"docs/deploy\.md cost table: the total at the defaults says 44\.87",
          deploy_md(lambda s: sub_once(s, r"^(\| \*\*total\*\* \|.*\| )\*\*44\.86\*\*", r"\1**44.87**")))
root_case("docs/deploy.md cost option with an undeclared parameter",
          r"docs/deploy\.md cost options: `EndpointAzs=2` sets \['EndpointAzs'\], which the template does not declare",
          deploy_md(lambda s: sub_once(s, r"^\| `SecretsManagerEndpointAzs=2` \|", "| `EndpointAzs=2` |")))
root_case("docs/deploy.md cost option total drifted",
          r"docs/deploy\.md cost options: the total with `SecretsManagerEndpointAzs=2` should say 52\.16",
          deploy_md(lambda s: sub_once(s, r"^(\| `SecretsManagerEndpointAzs=2` \|.*\| \+7\.30 \| )52\.16", r"\g<1>52.17")))
root_case("docs/deploy.md following-more-coins row drifted",
          r'docs/deploy\.md "Following more coins": the row for 1,000 coins should read',
          deploy_md(lambda s: sub_once(s, r"^(\| 1,000 \| 4,000 \| )6\.80", r"\g<1>6.79")))
root_case("docs/deploy.md without the following-more-coins table",
          r'docs/deploy\.md "Following more coins": the row for 11 coins should read',
          deploy_md(lambda s: sub_once(s, r"^### Following more coins$", "### More coins")))
root_case("docs/deploy.md budget table drifted", r"docs/deploy\.md budget table: the row starting 'headroom' should say \d+, found \[\d+\]",
          deploy_md(lambda s: sub_once(s, r"^(\| \*\*headroom\*\* \| \*\*)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + 1}")))

# -- samconfig.toml
samconfig_case("samconfig.toml missing", r"samconfig\.toml not found", None)
samconfig_case("samconfig.toml does not parse", r"samconfig\.toml does not parse", lambda s: s + "\n[default.deploy\n")
samconfig_case("stack_name not crypto-dashboard", r"default\.global\.parameters\.stack_name must be crypto-dashboard",
               lambda s: replace_once(s, 'stack_name = "crypto-dashboard"', 'stack_name = "dashboard"'))
samconfig_case("capabilities without CAPABILITY_IAM", r"capabilities must include CAPABILITY_IAM",
               lambda s: sub_once(s, r"^capabilities = .*$", 'capabilities = "CAPABILITY_AUTO_EXPAND"'))
samconfig_case("resolve_s3 false", r"resolve_s3 must be true", lambda s: replace_once(s, "resolve_s3 = true", "resolve_s3 = false"))
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
               lambda s: replace_once(s, "EnableWaf=auto", "EnableWaf=auto DbSize=20"))

# -- missing modules
hidden_module_case("cfn-lint not importable", r"cfn-lint is not importable", "cfnlint")
hidden_module_case("aws-sam-translator not importable", r"aws-sam-translator is not importable", "samtranslator")
hidden_module_case("no tomllib (Python < 3.11): crates", r"has no tomllib .*3\.11", "tomllib")
hidden_module_case("no tomllib (Python < 3.11): samconfig.toml", r"has no tomllib .*3\.11", "tomllib", samconfig=True)

# -- check-deploy.sh refuses a Python older than 3.11 (no skipped samconfig check)
def old_venv(work: Path) -> dict:
    for tool, text in (("python", OLD_PYTHON), ("cfn-lint", "#!/bin/sh\nexit 0\n"), ("sam", "#!/bin/sh\nexit 0\n")):
        executable(work / "venv" / "bin" / tool, text)
    return {"DEPLOY_VENV": str(work / "venv")}


check_deploy_case("existing deploy venv on Python 3.10", r"venv .*Python 3\.10\.12.*3\.11", old_venv)
check_deploy_case("python3 is 3.10 when creating the venv", r"Python 3\.10\.12.*3\.11", lambda work: {
    "DEPLOY_VENV": str(work / "new-venv"), "DEPLOY_PYTHON": executable(work / "python3", OLD_PYTHON)})


# --- running ------------------------------------------------------------------------------------

def run(index: int) -> tuple[bool, str, list[str]]:
    """Builds and runs one case in a directory of its own: (passed, why not, its error lines)."""
    case = CASES[index]
    with tempfile.TemporaryDirectory(prefix="check-template-case-") as tmp:
        try:
            built = case.build(Path(tmp))
        except (Inapplicable, KeyError, IndexError, ValueError) as exc:
            return False, (f"the mutation does not apply ({type(exc).__name__}: {exc}); did the input "
                           f"change? update the case"), []
        if case.fresh:
            command, extra = built
            try:
                done = subprocess.run(command, cwd=tmp, env=dict(os.environ, **extra), capture_output=True,
                                      text=True, timeout=CASE_TIMEOUT)
            except subprocess.TimeoutExpired:
                return False, f"killed after {CASE_TIMEOUT} s", []
            code, stderr = done.returncode, done.stderr
        else:
            out = io.StringIO()
            with contextlib.redirect_stderr(out), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = check_template.main([str(a) for a in built])
                except SystemExit as exc:
                    print(exc.code if isinstance(exc.code, str) else "", file=sys.stderr)
                    code = exc.code if isinstance(exc.code, int) else 1
            stderr = out.getvalue()
    found = [line[len("error: "):] for line in stderr.splitlines() if line.startswith("error: ")]
    shown = "\n".join("      | " + line for line in (stderr.strip() or "(no output)").splitlines()[-12:])
    if case.expect is None:
        return (code == 0 and not found), f"expected success, got exit {code}:\n{shown}", found
    if code == 0:
        return False, f"expected a failure matching /{case.expect}/, but it passed", found
    if not any(re.search(case.expect, e) for e in found):
        return False, f"exit {code}, but no error line matches /{case.expect}/:\n{shown}", found
    return True, "", found


def uncovered(fired: list[str]) -> list[tuple[int, str]]:
    """(line, text) of every error(...) call in check_template.py that no fired error matches; an
    f-string's placeholders match anything."""
    missing = []
    for node in ast.walk(ast.parse(CHECK.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "error" and node.args:
            parts = node.args[0].values if isinstance(node.args[0], ast.JoinedStr) else [node.args[0]]
            consts = [p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else None for p in parts]
            pattern = re.compile("".join(".*" if c is None else re.escape(c) for c in consts), re.S)
            if not any(pattern.fullmatch(e) for e in fired):
                missing.append((node.lineno, "".join("{...}" if c is None else c for c in consts)))
    return sorted(missing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", metavar="TEXT", help="run only the cases whose group or name contains TEXT")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases run at once (default: CPUs)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every error line of every case")
    args = parser.parse_args()
    chosen = [i for i, c in enumerate(CASES) if not args.k or args.k.lower() in f"{c.group} {c.name}".lower()]
    if args.list:
        for i in chosen:
            print(f"{CASES[i].group:<12} {CASES[i].name}  ->  {CASES[i].expect or 'passes'}")
        return 0
    names = [f"{c.group}: {c.name}" for c in CASES]
    if not chosen or len(set(names)) != len(names):
        print(f"error: no case matches {args.k!r}" if not chosen else
              f"error: case names used twice: {sorted({n for n in names if names.count(n) > 1})}", file=sys.stderr)
        return 1
    failed, fired = 0, []
    # Forked workers inherit this process's imports (cfn-lint, aws-sam-translator, check_template).
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for i, (ok, detail, found) in zip(chosen, pool.imap(run, chosen)):
            failed += not ok
            fired += found
            print(f"{'ok  ' if ok else 'FAIL'}  {CASES[i].group:<12} {CASES[i].name}", flush=True)
            for line in ([] if ok else [detail]) + ([f"error: {e}" for e in found] if args.verbose else []):
                print(f"      {line}", flush=True)
    if args.k:
        print(f"(-k {args.k}: {len(chosen)} of {len(CASES)} cases run; the coverage check needs all of them)")
    else:
        missing = uncovered(fired)
        failed += bool(missing)
        print(f"{'FAIL' if missing else 'ok  '}  {'coverage':<12} every error(...) in check_template.py fired in some case")
        for line, text in missing:
            print(f"      | check_template.py:{line}: {textwrap.shorten(text, 110)} (no case makes it fire; add one)")
    total = len(chosen) + (0 if args.k else 1)
    print(f"check_template rules: {total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
