"""The real ``exptrace`` command: flags anywhere, helpful help, one-line errors, no tracebacks."""

import json
import socket
import subprocess

import httpx
import pytest

from tests.query.exptrace_cli import EXPTRACE, TOKEN, Server, assert_one_line_error, clean_env
from tests.query.exptrace_cli import exptrace as run

SUBCOMMANDS = [
    ["experiments", "list"],
    ["experiments", "show"],
    ["experiments", "history"],
    ["experiments", "create"],
    ["experiments", "start"],
    ["experiments", "stop"],
    ["experiments", "archive"],
    ["experiments", "rollback"],
    ["experiments", "decide"],
    ["experiments", "decisions"],
    ["freeze"],
    ["unfreeze"],
    ["report"],
    ["incident"],
    ["coverage"],
    ["propagation"],
    ["attribution"],
    ["burn"],
    ["lag"],
    ["cardinality"],
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("cli-errors") / "data", EXPTRACE_TOKEN=TOKEN).start()
    yield started
    started.stop()


def api(server):
    return {"EXPTRACE_API_URL": server.url, "EXPTRACE_TOKEN": TOKEN}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_says_where_the_pages_and_the_api_are(server):
    """The operator reads full URLs and that nothing beyond this machine can reach them."""
    line = server.announced[-1]
    assert f"web pages {server.url}/ui" in line and f"HTTP API {server.url}/api/v1" in line
    assert "listening on 127.0.0.1 only" in line
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{server.url}/api/v1/experiments", headers=auth).status_code == 200
    assert httpx.get(f"{server.url}/ui", headers=auth).status_code == 200


def test_global_flags_work_before_and_after_the_subcommand(server):
    created = run(
        "experiments",
        "create",
        "flags",
        "--variant",
        "control=1",
        "--variant",
        "B=1",
        **api(server),
    )
    assert created.returncode == 0, created.stderr
    flags = ["--api", server.url, "--token", TOKEN, "--json"]
    before = run(*flags, "experiments", "list")
    middle = run("experiments", *flags, "list")
    after = run("experiments", "list", *flags)
    assert before.returncode == middle.returncode == after.returncode == 0, after.stderr
    listed = json.loads(after.stdout)
    assert "flags" in [e["id"] for e in listed]
    assert json.loads(before.stdout) == json.loads(middle.stdout) == listed
    # The token after the subcommand is the one sent: without it the server says no.
    refused = run("experiments", "list", "--api", server.url)
    assert_one_line_error(refused, "bearer token", "--token", "EXPTRACE_TOKEN", "401")
    wrong = run("experiments", "list", "--api", server.url, "--token", "nope")
    assert_one_line_error(wrong, "wrong bearer token", "--token or EXPTRACE_TOKEN")


def test_an_unknown_api_path_answers_json_404(server):
    """A typo in an API path reads as JSON, like every other API answer."""
    for path in ("/api/v1/reports/x", "/api/v1/nothing", "/api/v1"):
        answer = httpx.get(f"{server.url}{path}", headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/json"
        assert answer.json() == {"error": f"no such API path: {path}"}


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_help_names_the_global_flags_defaults_and_variables(command):
    result = subprocess.run(
        [EXPTRACE, *command, "--help"], capture_output=True, text=True, env=clean_env(), check=True
    )
    text = " ".join(result.stdout.split())
    for flag in ("--api URL", "--data-dir DIR", "--token", "--json"):
        assert flag in text, flag
    for variable in ("EXPTRACE_API_URL", "EXPTRACE_DATA_DIR", "EXPTRACE_TOKEN"):
        assert variable in text, variable
    assert "default: http://127.0.0.1:4318 if it answers" in text
    assert "never creates one" in text
    if command[0] in ("incident", "coverage", "propagation", "lag"):
        assert "--last DURATION" in text and "(default: 1h)" in text
        assert "(default: now)" in text
    if command[0] == "report":  # the experiment's whole run unless a window is given
        assert "--last DURATION" in text and "(default: the whole run; with --to alone, 1h)" in text
        assert "(default: now, or the experiment's stop)" in text


def test_a_grpc_port_given_as_the_api_is_named_as_such(server):
    result = run("--api", f"http://127.0.0.1:{server.grpc_port}", "experiments", "list")
    assert_one_line_error(result, "no exptrace API answers", "gRPC")


def test_an_api_nobody_answers_is_an_error_not_a_fallback(tmp_path):
    result = run("report", "x", "--api", f"http://127.0.0.1:{closed_port()}", cwd=tmp_path)
    assert_one_line_error(result, "no exptrace API answers", "refused")
    env_result = run(
        "report", "x", cwd=tmp_path, EXPTRACE_API_URL=f"http://127.0.0.1:{closed_port()}"
    )
    assert_one_line_error(env_result, "no exptrace API answers")
    assert not (tmp_path / "exptrace-data").exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["experiments", "create", "x", "--variant", "control=abc"],
            ["'control=abc'", "NAME=WEIGHT"],
        ),
        (["experiments", "create", "x", "--variant", "control"], ["NAME=WEIGHT"]),
        (
            ["experiments", "create", "x", "--variant", "control=1", "--artifact", "B:model"],
            ["'B:model'", "VARIANT:KIND=VALUE"],
        ),
        (
            ["experiments", "create", "x", "--variant", "control=1", "--slo", "avail=0.9"],
            ["'avail=0.9'", "availability=0.999"],
        ),
        (
            ["experiments", "create", "x", "--variant", "control=1", "--slo", "availability=high"],
            ["availability=0.999"],
        ),
        (
            ["experiments", "create", "x", "--variant", "control=1", "--slo", "availability=99.9"],
            ["between 0 and 1", "HTTP 400"],
        ),
        (["report", "x", "--last", "1h", "--from", "2026-11-29T10:00"], ["--from", "--last"]),
        (["report", "x", "--from", "yesterday"], ["not a date and time"]),
        (["coverage", "--last", "soon"], ["not a duration"]),
        (["experiments", "list", "--status", "bogus"], ["'bogus'", "running"]),
        (["experiments", "history", "never-registered"], ["never-registered", "HTTP 404"]),
        (["report", "never-registered"], ["never-registered", "HTTP 404"]),
        (["experiments", "show", "never-registered"], ["HTTP 404"]),
        (["experiments", "start", "never-registered"], ["HTTP 404"]),
        (["--data-dir", "/nonexistent", "--api", "http://x", "burn"], ["not both"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(server, args, fragments):
    """The user reads one line saying what is wrong; nothing is created or changed."""
    assert_one_line_error(run(*args, **api(server)), *fragments)


def test_a_conflicting_change_is_refused_in_one_line(server):
    assert run("experiments", "create", "twice", "--variant", "a=1", **api(server)).returncode == 0
    again = run("experiments", "create", "twice", "--variant", "a=1", **api(server))
    assert_one_line_error(again, "exists already", "HTTP 409")
    stop_draft = run("experiments", "stop", "twice", **api(server))
    assert_one_line_error(stop_draft, "cannot go from draft to stopped", "HTTP 409")


def test_output_closed_early_is_not_a_traceback(server):
    """``exptrace --json ... | head`` when head has read enough: no BrokenPipeError."""
    process = subprocess.Popen(
        [EXPTRACE, "--json", "experiments", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(**api(server)),
    )
    process.stdout.close()  # the reader is gone before the answer is written
    stderr = process.stderr.read().decode()
    assert process.wait(120) == 2
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    assert stderr.strip() == "exptrace: output closed before the answer was printed"


def test_unit_help_names_exactly_the_attributes_registration_takes(tmp_path):
    """The help lists the unit attributes the registry keeps, and one it does not is refused
    before anything runs, naming the ones it takes."""
    from exptrace.ingest.schema.ddl import UNIT_ATTRIBUTES

    shown = " ".join(run("experiments", "create", "--help").stdout.split())
    assert all(attribute in shown for attribute in UNIT_ATTRIBUTES) and "*.id" not in shown
    refused = run("experiments", "create", "x", "--unit", "tenant.id", "--data-dir", str(tmp_path))
    assert_one_line_error(refused, "'tenant.id'", "user.id", "session.id")
