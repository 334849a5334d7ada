"""The README's Propagation snippets, run as written against a real ``exptrace up --token``.

Each snippet is cut out of README.md when the test runs (so the two cannot drift apart),
served in its own process with the environment the README gives it (the token in
``OTEL_EXPORTER_OTLP_HEADERS``, the allow-list in ``EXPTRACE_KNOWN_EXPERIMENTS``), and what
a user would then see is read back from the server: the experiment tagged on the app's
spans, the rogue one dropped, and the report counting the units the snippet sets, for the
experiment registered by the README's own ``experiments create`` example.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.query.exptrace_cli import TOKEN, Server, clean_env, exptrace

README = (Path(__file__).parents[2] / "README.md").read_text()
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def block(heading: str, language: str, index: int = 0) -> str:
    """The ``index``-th ``language`` code block under ``heading`` in the README."""
    section = README.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)[index]


SERVE = """
import importlib, signal, sys
sys.path.insert(0, ".")
kind, port = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly: the SDK flushes at exit
module = importlib.import_module("snippet")
if kind == "asgi":
    import uvicorn
    uvicorn.run(module.app, host="127.0.0.1", port=port, log_level="error")
else:
    from wsgiref.simple_server import WSGIRequestHandler, make_server
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args): pass
    app = getattr(module, "application", None) or module.app
    make_server("127.0.0.1", port, app, handler_class=Quiet).serve_forever()
"""
DJANGO_SETTINGS = """
SECRET_KEY = "test"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = []
"""
DJANGO_URLS = """
from django.http import JsonResponse
from django.urls import path
urlpatterns = [path("pay", lambda request: JsonResponse({"paid": True}))]
"""
INSTRUMENTED_APP = """
import exptrace.propagation
from opentelemetry import propagate, trace

exptrace.propagation.setup()
for user in range(40):
    headers = {"x-experiment": f"checkout-v2={'B' if user % 2 else 'control'}, rogue=X"}
    context = propagate.extract(headers)  # what an instrumentation does with a request
    with trace.get_tracer("app").start_as_current_span(
        "GET /pay", context=context, kind=trace.SpanKind.SERVER
    ):
        pass
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("snippets") / "data", EXPTRACE_TOKEN=TOKEN).start()
    api = {"EXPTRACE_API_URL": started.url, "EXPTRACE_TOKEN": TOKEN}
    create = block("## Query: which experiment did that?", "sh").split("\n")
    start = next(i for i, line in enumerate(create) if "experiments create" in line)
    command = create[start].rstrip("\\") + " " + create[start + 1].split("#")[0]
    args = shlex.split(command.replace("uv run exptrace", ""))
    registered = exptrace(*args, **api)
    assert registered.returncode == 0, registered.stderr
    yield started
    started.stop()


def app_environment(server: Server) -> dict[str, str]:
    """What the README tells an app to set, plus where the receiver listens."""
    return clean_env(
        EXPTRACE_TOKEN=TOKEN,
        EXPTRACE_KNOWN_EXPERIMENTS="checkout-v2",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.grpc_port}",
        OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{TOKEN}",
        OTEL_BSP_SCHEDULE_DELAY="200",
        PATH=f"{BIN}:/usr/bin:/bin",
    )


def spans_of(server: Server, experiment: str) -> int:
    seen = httpx.get(
        f"{server.url}/api/v1/seen",
        params={"from": "2020-01-01T00:00:00"},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=60,
    ).json()
    return next((row["spans"] for row in seen if row["experiment"] == experiment), 0)


def wait_for_spans(server: Server, at_least: int) -> None:
    for _ in range(300):
        if spans_of(server, "checkout-v2") >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {spans_of(server, 'checkout-v2')} of {at_least} spans arrived")


def serve_and_call(
    snippet: str, kind: str, tmp_path: Path, env: dict[str, str], edge_header: bool
) -> None:
    """Serve ``snippet`` as a module, send 40 users through it (the first with a rogue
    experiment; with ``edge_header`` each names its checkout-v2 variant in ``x-experiment``,
    else the snippet's assigner picks it), stop it with SIGTERM and check it exited cleanly."""
    (tmp_path / "snippet.py").write_text(snippet)
    (tmp_path / "serve.py").write_text(SERVE)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "serve.py", kind, str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/pay"
        for _ in range(300):
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for user in range(40):
            members = [f"checkout-v2={'B' if user % 2 else 'control'}"] if edge_header else []
            members += ["rogue=X"] if user == 0 else []
            headers = {"x-user-id": f"user-{user}", "x-experiment": ", ".join(members)}
            assert httpx.get(url, headers=headers, timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "Failed to export" not in stderr, stderr


@pytest.fixture(scope="module")
def fastapi_report(server, tmp_path_factory) -> dict:
    """Serve the FastAPI snippet, send it 40 users, and read the report on checkout-v2."""
    before = spans_of(server, "checkout-v2")
    snippet = block("### Starlette / FastAPI (ASGI)", "python")
    where = tmp_path_factory.mktemp("fastapi")
    serve_and_call(snippet, "asgi", where, app_environment(server), edge_header=False)
    wait_for_spans(server, before + 40)
    answer = exptrace(
        "--json", "report", "checkout-v2", "--last", "1h",
        EXPTRACE_API_URL=server.url, EXPTRACE_TOKEN=TOKEN,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def test_fastapi_snippet_tags_spans_and_obeys_the_environment(server, fastapi_report):
    assert spans_of(server, "rogue") == 0  # EXPTRACE_KNOWN_EXPERIMENTS held
    assert sum(c["requests"] for c in fastapi_report["cohorts"]) == 40


def test_fastapi_snippet_sets_the_unit_the_readme_registers(fastapi_report):
    assert fastapi_report["unit"]["attribute"] == "exptrace.unit"
    assert fastapi_report["unit"]["analysis"] == "units"


@pytest.mark.parametrize(("index", "kind"), [(0, "flask"), (1, "django")])
def test_wsgi_snippets_export_tagged_spans(server, tmp_path, index, kind):
    before = spans_of(server, "checkout-v2")
    snippet = block("### Flask and Django (WSGI)", "python", index)
    env = app_environment(server)
    if kind == "django":
        (tmp_path / "settings.py").write_text(DJANGO_SETTINGS)
        (tmp_path / "urls.py").write_text(DJANGO_URLS)
        env["DJANGO_SETTINGS_MODULE"] = "settings"
    serve_and_call(snippet, "wsgi", tmp_path, env, edge_header=True)  # no assigner here
    wait_for_spans(server, before + 40)
    assert spans_of(server, "rogue") == 0


def test_opentelemetry_instrument_snippet_sends_the_token(server, tmp_path):
    before = spans_of(server, "checkout-v2")
    lines = [
        line
        for line in block("### With `opentelemetry-instrument`", "sh").splitlines()
        if not line.startswith("pip ")
    ]
    (tmp_path / "app.py").write_text(INSTRUMENTED_APP)
    done = subprocess.run(
        ["bash", "-euc", "\n".join(lines)],
        cwd=tmp_path,
        env=app_environment(server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    wait_for_spans(server, before + 40)
    assert spans_of(server, "rogue") == 0
