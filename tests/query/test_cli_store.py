"""Which store the real ``exptrace`` command answers from: only the one it was asked for."""

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

from exptrace.query.cli.client import api_answers
from tests.query.exptrace_cli import Server, assert_one_line_error, clean_env
from tests.query.exptrace_cli import exptrace as run
from tests.query.synth import experiment

DDL = (
    "SELECT name, create_table_query FROM system.tables "
    "WHERE database = currentDatabase() ORDER BY name"
)


def schema_of(data_dir) -> list:
    """Every table's DDL, read by a process of its own (chDB: one store per process)."""
    code = (
        "import json, sys; from exptrace.ingest.store.backends import open_store; "
        "s = open_store('chdb://' + sys.argv[1]); print(json.dumps(s.query(sys.argv[2]).rows))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir / "store"), DDL],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=clean_env(),
    )
    return json.loads(out.stdout)


def test_reads_open_only_an_existing_store_and_change_nothing(tmp_path):
    data = tmp_path / "exptrace-data"
    first = Server(data, "--retention-days", "7").start()
    try:
        assert run("experiments", "create", "local-exp", "--variant", "control=1", "--variant",
                   "B=1", "--api", first.url).returncode == 0  # fmt: skip
        spans = experiment(
            random.Random(3), "local-exp", {"control": (40, 0.0, 10.0), "B": (40, 0.5, 10.0)}
        )
        first.send(spans)
        first.wait_for_spans(len(spans))
    finally:
        first.stop()
    before = schema_of(data)
    assert any("toIntervalDay(7)" in ddl for name, ddl in before if name == "otel_traces")

    # A server answering elsewhere does not take over an explicit --data-dir.
    other = Server(tmp_path / "other").start()
    try:
        assert run("experiments", "create", "only-on-server", "--variant", "a=1", "--api",
                   other.url).returncode == 0  # fmt: skip
        listed = run("--json", "experiments", "list", "--data-dir", str(data),
                     EXPTRACE_API_URL=other.url)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert [e["id"] for e in json.loads(listed.stdout)] == ["local-exp"]
        # --api names the server only, even with a store in ./exptrace-data.
        served = run("--json", "experiments", "list", "--api", other.url, cwd=tmp_path)
        assert [e["id"] for e in json.loads(served.stdout)] == ["only-on-server"]
        # Both variables set: the server's URL wins (EXPTRACE_DATA_DIR is also up's setting).
        both = run("--json", "experiments", "list", EXPTRACE_API_URL=other.url,
                   EXPTRACE_DATA_DIR=str(data))  # fmt: skip
        assert [e["id"] for e in json.loads(both.stdout)] == ["only-on-server"]
        # The store a running server owns is refused, naming the owner.
        owned = run("experiments", "list", "--data-dir", str(other.data_dir))
        assert_one_line_error(owned, "is in use by pid", "HTTP API")
    finally:
        other.stop()

    report = run("--json", "report", "local-exp", "--data-dir", str(data))
    assert report.returncode == 0, report.stderr
    assert sorted(c["requests"] for c in json.loads(report.stdout)["cohorts"]) == [40, 40]
    if not api_answers("http://127.0.0.1:4318"):  # nothing on the default port: ./exptrace-data
        fallback = run("experiments", "show", "local-exp", cwd=tmp_path)
        assert fallback.returncode == 0 and "local-exp" in fallback.stdout, fallback.stderr

    # The reads ran no DDL: the store keeps its 7-day retention and every table as it was.
    assert schema_of(data) == before


def test_a_read_never_creates_a_store(tmp_path):
    missing = tmp_path / "nowhere"
    result = run("report", "checkout-v2", "--data-dir", str(missing), cwd=tmp_path)
    assert_one_line_error(result, "holds no exptrace store")
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    default = run("experiments", "list", cwd=empty)
    assert not (empty / "exptrace-data").exists()
    if not api_answers("http://127.0.0.1:4318"):
        assert_one_line_error(default, "no exptrace server answers", "exptrace-data holds no store")


def test_a_store_only_the_receiver_ran_answers_the_registrys_logs(tmp_path):
    """``exptrace-ingest`` alone creates ingest's tables only; the registry's logs are the
    query layer's. The CLI on such a store adds them as ``exptrace up`` would, then answers
    (the decision log and the watcher's history: empty, not an engine error)."""
    data = tmp_path / "ingest-only"
    receiver = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("exptrace-ingest")),
            "--data-dir",
            str(data),
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    assert receiver.stdout is not None
    for line in receiver.stdout:
        if "receiving OTLP" in line:
            break
    receiver.send_signal(signal.SIGTERM)
    assert receiver.wait(120) == 0
    assert "exptrace_decisions" not in {name for name, _ in schema_of(data)}

    decisions = run("experiments", "decisions", "--json", "--data-dir", str(data))
    assert decisions.returncode == 0, decisions.stderr
    assert json.loads(decisions.stdout)["experiments"] == []
    history = run("watch", "history", "--json", "--data-dir", str(data))
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout) == []
