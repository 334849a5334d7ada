"""Installing exptrace-propagation alone brings only OpenTelemetry's API and SDK."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("grpcio", "chdb", "chdb-core", "clickhouse-connect", "pyarrow", "protobuf", "starlette")


def test_propagation_installs_alone_without_heavy_dependencies(tmp_path):
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in UV
    assert uv, "run the tests through uv (the README's test command) or put uv on PATH"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, str(ROOT / "propagation")],
        check=True,
        timeout=600,
    )
    listed = subprocess.run(
        [uv, "pip", "freeze", "--python", python], capture_output=True, text=True, check=True
    ).stdout.lower()
    installed = {line.split("==")[0].split(" @ ")[0] for line in listed.splitlines()}
    assert "exptrace-propagation" in installed
    assert {"opentelemetry-api", "opentelemetry-sdk"} <= installed
    assert not installed & set(HEAVY), installed & set(HEAVY)
    probe = (
        "import exptrace.propagation as p, sys;"
        "from opentelemetry.propagate import extract;"
        "assert p.current_assignments(extract({'baggage': 'exp.a=1'})) == {'a': '1'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'chdb')))"
    )
    out = subprocess.run(
        [python, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"OTEL_PROPAGATORS": "tracecontext,baggage,experiment"},
    )
    assert out.stdout.strip() == "[]"
