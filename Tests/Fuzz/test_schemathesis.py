"""Schemathesis against the real server's own OpenAPI description (`/api/v1/openapi.json`).

    python3 -m pytest Tests/Fuzz/test_schemathesis.py -q -p no:cacheprovider

Starts the server on a fresh database (comparison runs go to a stand-in pipeline, /bin/false, so
a generated `POST /api/v1/runs` fails fast instead of training), gives schemathesis real data to
reach past 404s (a conversation with seeds and votes, two published constitutions, a finished
run, a participant token and an organiser token, each sent for its security scheme), then runs
`schemathesis run` as a client author would: every check (`--checks all`: besides server
errors and response conformance, schema-valid requests must be accepted, schema-violating ones
refused, undeclared methods answered 405, created resources found, and so on) in all four phases
(examples, coverage, fuzzing, stateful; the stateful phase follows the document's `links`, from
a new conversation to its seeds, votes, constitution and run). Afterwards the same server process (same PID, still holding its
port) must answer /healthz. Any failure fails the test; the message lists each one with the
request that triggered it (schemathesis prints a curl command per failure). The full output is
kept in the temp folder named in the message.

Environment:
    CHARTER_BIN                     the binary (see conftest.py)
    CHARTER_SCHEMATHESIS_EXAMPLES   --max-examples per operation (default 100: about 2-3 minutes
                                    with a debug build on 2 cores)
    CHARTER_SCHEMATHESIS_SEED       --seed (default 7, as in CI; `random` draws one, printed)
    CHARTER_SCHEMATHESIS_CHECKS     the checks (default `all`)
    CHARTER_SCHEMATHESIS_PHASES     the phases (default all four)
    CHARTER_SCHEMATHESIS_WORKERS    --workers (default 1: with 2, Hypothesis's cache of lambda
                                    sources raced between worker threads once in CI, a KeyError
                                    inside Hypothesis that failed the run with no finding)
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SERVE_EXTRA = ["--pipeline-command", "/bin/false", "--runs-directory", "{workdir}/runs", "--analysis-interval", "1"]

CHECKS = os.environ.get("CHARTER_SCHEMATHESIS_CHECKS", "all")
PHASES = os.environ.get("CHARTER_SCHEMATHESIS_PHASES", "examples,coverage,fuzzing,stateful")
EXAMPLES = int(os.environ.get("CHARTER_SCHEMATHESIS_EXAMPLES", "100"))
# CI repeats one seed, so a red run is a change in the server or the document, not luck;
# Tests/Fuzz/fuzz-long draws a new one each time to find what that seed does not reach.
_seed = os.environ.get("CHARTER_SCHEMATHESIS_SEED", "7")
SEED = random.SystemRandom().randrange(1, 2**31) if _seed == "random" else int(_seed)
WORKERS = os.environ.get("CHARTER_SCHEMATHESIS_WORKERS", "1")
TIMEOUT = 1200
MEMBER_EMAIL = "member@example.org"

# Operations whose outcome depends on the server's state or on a file's contents, not only on
# the request's shape: a vote on a statement moderated out, a seed that duplicates one, a
# principle merged into itself, a run of an unpublished constitution or with a baseline that is
# not a Charter constitution, a moderation naming a statement of another conversation, an
# export whose CSV is not one. Their 409/422 (for an import also 400/413/415) answers are
# declared in the document, so they count as accepting schema-valid data.
_STATE = ["2XX", "401", "403", "404", "409", "422"]
STATE_DEPENDENT = {
    "castVote": _STATE, "addSeedStatements": _STATE, "setPrincipleGrouping": _STATE, "createRun": _STATE,
    "moderateStatements": _STATE,
    "importPolis": ["2XX", "400", "401", "403", "404", "409", "413", "415", "422"],
    # Demographic questions whose keys repeat, or whose target shares name an unknown option or
    # do not add up to 1: JSON Schema cannot say so, and the answer is a 400 naming the fault.
    "setDemographics": ["2XX", "400", "401", "403", "404"],
    # A translation into the statement's own language, or longer than the conversation's
    # statements may be: 422.
    "setStatementTranslation": _STATE,
}


def schemathesis_command() -> list[str]:
    exe = shutil.which("schemathesis") or shutil.which("st")
    if exe:
        return [exe]
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        pytest.fail("schemathesis is not installed: scripts/install-deps --test installs it")
    return [sys.executable, "-m", "schemathesis.cli"]


def must(response, status: int, what: str):
    assert response.status == status, f"{what}: HTTP {response.status} {response.body[:300]!r}"
    return response.json() if response.body else None


def prepare(charter) -> dict:
    """Data the generated requests can reach: without it nearly every case is a 404."""
    token = charter.token
    must(charter.request("POST", "/api/v1/conversations", token=token,
                         body={"slug": "sch", "title": "Schemathesis", "question": "Is the API what it says?"}),
         201, "create conversation")
    added = must(charter.request("POST", "/api/v1/conversations/sch/seeds", token=token,
                                 body={"statements": [f"Schemathesis statement {i}" for i in range(8)]}),
                 201, "seed")["added"]
    statements = [s["id"] for s in added]
    for i in range(20):
        participant = must(charter.request("POST", "/api/v1/conversations/sch/participants", body={}),
                           201, "participant")
        for sid in statements:
            vote = "disagree" if sid == statements[-1] and i % 2 == 0 else "agree"
            must(charter.request("POST", "/api/v1/conversations/sch/votes", token=participant["token"],
                                 body={"statement": sid, "vote": vote}), 201, "vote")
    constitutions = []
    for threshold in (0.5, 0.6):
        published = must(charter.request("POST", "/api/v1/conversations/sch/constitutions", token=token,
                                         body={"rule": "min-group", "threshold": threshold}), 201, "publish")
        constitutions.append(published["id"])
    run = must(charter.request("POST", "/api/v1/runs", token=token,
                               body={"constitution_id": constitutions[0], "profile": "smoke"}), 201, "run")
    # A conversation of its own for PATCH, so a generated `state: closed` does not close "sch".
    must(charter.request("POST", "/api/v1/conversations", token=token,
                         body={"slug": "sch-patch", "title": "Patched", "question": "Patch me?"}), 201, "create")
    participant = must(charter.request("POST", "/api/v1/conversations/sch/participants", body={}), 201, "participant")
    # Translations for the translation operations to find (and delete).
    for sid in statements:
        must(charter.request("PUT", f"/api/v1/conversations/sch/statements/{sid}/translations/de", token=token,
                             body={"text": f"Schemathesis-Aussage {sid}"}), 200, "translate")
    # A second organiser, so `PUT …/members` can name someone who exists.
    password_file = Path(charter.workdir) / "member-password"
    password_file.write_text("member passphrase for schemathesis\n")
    subprocess.run([str(charter.server.binary), "admin", "create-organiser", "--email", MEMBER_EMAIL,
                    "--password-file", str(password_file), "--database", str(charter.database)],
                   check=True, capture_output=True, timeout=120)
    return {"statements": statements, "constitutions": constitutions, "runs": [run["id"]],
            "participant_token": participant["token"]}


def config_toml(charter, data: dict) -> str:
    def values(items):
        return "[" + ", ".join(json.dumps(v) for v in items) + "]"

    state_dependent = "\n".join(
        f'[[operations]]\ninclude-operation-id = "{operation}"\n'
        f"checks.positive_data_acceptance.expected-statuses = {values(statuses)}\n"
        for operation, statuses in STATE_DEPENDENT.items())
    return f"""
[auth.openapi.organiserToken]
bearer = {json.dumps(charter.token)}

[auth.openapi.participantToken]
bearer = {json.dumps(data["participant_token"])}

[dictionaries.slugs]
values = ["sch"]

[dictionaries.patch_slugs]
values = ["sch-patch"]

[dictionaries.statements]
values = {values(data["statements"])}

[dictionaries.constitutions]
values = {values(data["constitutions"])}

[dictionaries.emails]
values = [{json.dumps(MEMBER_EMAIL)}]

[dictionaries.languages]
values = ["de"]

[dictionaries.runs]
values = {values(data["runs"])}

[parameters]
"path.slug" = {{ dictionary = "slugs", probability = 0.9 }}
"path.statement" = {{ dictionary = "statements", probability = 0.8 }}

[[operations]]
include-path-regex = "/translations/"
parameters = {{ "path.language" = {{ dictionary = "languages", probability = 0.5 }} }}

[[operations]]
include-operation-id = "updateConversation"
parameters = {{ "path.slug" = {{ dictionary = "patch_slugs", probability = 0.9 }} }}

[[operations]]
include-operation-id = "setMember"
parameters = {{ "body.email" = {{ dictionary = "emails", probability = 0.8 }} }}

[[operations]]
include-operation-id = "castVote"
parameters = {{ "body.statement" = {{ dictionary = "statements", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/api/v1/constitutions/"
parameters = {{ "path.id" = {{ dictionary = "constitutions", probability = 0.8 }}, "path.other" = {{ dictionary = "constitutions", probability = 0.8 }} }}

# Operations whose 409/422 depend on the server's state (STATE_DEPENDENT above).
{state_dependent}
[[operations]]
include-path-regex = "^/api/v1/runs/"
parameters = {{ "path.id" = {{ dictionary = "runs", probability = 0.8 }} }}
"""


def failures_section(output: str) -> str:
    """The FAILURES block of schemathesis' console output (each failure with its curl command)."""
    match = re.search(r"^=+ FAILURES =+$(.*?)(?=^=+ (?:WARNINGS|SUMMARY|ERRORS) =+$)", output, re.S | re.M)
    errors = re.search(r"^=+ ERRORS =+$(.*?)(?=^=+ (?:WARNINGS|SUMMARY) =+$)", output, re.S | re.M)
    parts = []
    if match:
        parts.append(match.group(1).strip())
    if errors:
        parts.append("ERRORS:\n" + errors.group(1).strip())
    return "\n\n".join(parts)


def phase_lines(output: str, report: dict) -> list[str]:
    """One line per phase: its status and time and what it ran (from the console output), and
    for the three generating phases, how many generated valid requests the server accepted,
    refused as conflicting, or rejected (from the report's valid-data rates)."""
    rates: dict[str, dict[str, int]] = {}
    for per_phase in (report.get("valid_rates") or {}).values():
        for phase, counts in per_phase.items():
            total = rates.setdefault(phase, {})
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
    lines = []
    for phase in PHASES.split(","):
        name = phase.strip().capitalize()
        match = re.search(rf"^ \S+\s+{name} \(in ([0-9.]+)s\)\n\n(.*?)(?=^ \S+\s+[A-Z][a-z]+ \(in |^=|\Z)", output, re.S | re.M)
        status = (report.get("phases") or {}).get(phase, {}).get("status", "?")
        ran = " ".join(match.group(2).split()) if match else ""
        valid = rates.get(phase)
        valid_text = (" valid requests: " + ", ".join(f"{k} {v}" for k, v in valid.items())) if valid else ""
        lines.append(f"  phase {phase}: {status}" + (f" in {match.group(1)} s" if match else "")
                     + (f"; {ran}" if ran else "") + valid_text)
    return lines


def test_schemathesis(charter):
    data = prepare(charter)
    workdir = Path(charter.workdir)
    config = workdir / "schemathesis.toml"
    config.write_text(config_toml(charter, data))
    report_dir = workdir / "schemathesis-report"
    command = schemathesis_command() + [
        "--config-file", str(config), "run", f"{charter.server.base_url}/api/v1/openapi.json",
        "--checks", CHECKS, "--phases", PHASES, "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", WORKERS,
        "--report", "json,junit", "--report-dir", str(report_dir), "--request-timeout", "30",
        "--no-color", "--output-truncate", "false",
    ]
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"schemathesis did not finish in {TIMEOUT} s (seed {SEED}); output so far:\n"
                    f"{(error.stdout or '')[-5000:] if isinstance(error.stdout, str) else ''}")
    output = done.stdout + done.stderr
    (workdir / "schemathesis-output.txt").write_text(output)

    reports = sorted(report_dir.glob("*.json"))
    assert reports, f"schemathesis wrote no JSON report (exit {done.returncode}):\n{output[-5000:]}"
    report = json.loads(reports[-1].read_text())
    ops, cases = report.get("operations") or {}, report["test_cases"]
    warnings = {k: v for k, v in (report.get("warnings") or {}).items() if v}
    lines = [
        f"schemathesis {report['schemathesis_version']}: seed={SEED} max_examples={EXAMPLES} "
        f"operations tested={ops.get('tested')}/{ops.get('total')} errored={ops.get('errored')} "
        f"cases generated={cases['generated']} with_failures={cases['with_failures']} "
        f"unique_failures={cases['unique_failures']} errored={cases['errored']} "
        f"time={report['running_time']:.0f}s exit={done.returncode}",
    ]
    lines.extend(phase_lines(output, report))
    for failure in report["failures"]:
        lines.append(f"  FAILURE {failure['title']} x{failure['count']}: {', '.join(failure['operations'])}")
    for error in report["errors"]:
        lines.append(f"  ERROR {error['title']} x{error['count']}")
    for name, items in warnings.items():
        lines.append(f"  warning {name}: {', '.join(map(str, items))}")
    lines.append(f"  full output: {workdir / 'schemathesis-output.txt'}")
    charter.summary.extend(lines)
    print("\n".join(lines))

    # The same process (the PID started for this module, still holding the port) answers after
    # the whole run: a crash hidden by a restart would not pass.
    pid = charter.assert_same_process_answers("the schemathesis run")
    charter.summary.append(f"  the same server process (pid {pid}) answered /healthz after schemathesis")
    assert ops.get("tested", 0) > 0 and cases["generated"] > 0, f"schemathesis tested nothing:\n{output[-5000:]}"
    problems = failures_section(output)
    assert not report["failures"] and not report["errors"] and done.returncode == 0, (
        f"schemathesis found {cases['unique_failures']} unique failures and {len(report['errors'])} errors "
        f"(seed {SEED}, exit {done.returncode}):\n" + "\n".join(lines) + "\n\n" + (problems or output[-20000:]))
