"""The Node.js OpenTelemetry SDK (a second language) exports all three signals to the receiver."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ingest.helpers import query

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node():
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed for the cross-language tests"
    if not (NODE_DIR / "node_modules" / "@opentelemetry").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )
    return node


def test_node_sdk_traces_logs_metrics_carry_the_assignment(receiver, node):
    result = subprocess.run(
        [node, "export.js", f"127.0.0.1:{receiver.grpc_port}", "stock-node"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    spans = query(
        receiver,
        "SELECT SpanName, SpanKind, Experiments FROM otel_traces WHERE ServiceName = 'stock-node' ORDER BY SpanName",
    )
    assert spans == [
        ["GET /stock", "Server", {"checkout-v2": "B"}],
        ["db.query", "Internal", {"checkout-v2": "B"}],
    ]
    logs = query(
        receiver,
        "SELECT Body, Experiments FROM otel_logs WHERE ServiceName = 'stock-node'",
        flush=False,
    )
    assert logs == [["stock checked", {"checkout-v2": "B"}]]
    metrics = query(
        receiver,
        "SELECT MetricName, Value, Experiments FROM otel_metrics_sum WHERE ServiceName = 'stock-node'",
        flush=False,
    )
    assert metrics == [["stock.checks", 2, {"checkout-v2": "B"}]]
