"""What an operator sees from ``exptrace up`` (the real process) when the door cannot open.

Before: a second ``exptrace up`` bound the gRPC port a running receiver held (grpcio sets
SO_REUSEPORT), so exports were split between two stores; ``--http 127.0.0.1:99999`` wrapped
round to port 34463; ``--retention-days -3`` printed a traceback. Now each is one line on
stderr and exit status 2, and the first receiver keeps every export.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.door import grpc_export, span, traces

EXPTRACE = str(Path(sys.executable).parent / "exptrace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up(data_dir: Path, grpc_port: int, http_port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            EXPTRACE,
            "up",
            "--data-dir",
            str(data_dir),
            "--grpc",
            f"127.0.0.1:{grpc_port}",
            "--http",
            f"127.0.0.1:{http_port}",
            *extra,
        ],
        env={**os.environ, "EXPTRACE_FLUSH_INTERVAL": "0.2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def one_line_error(result: subprocess.CompletedProcess | subprocess.Popen, stderr: str) -> str:
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("exptrace:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_a_second_receiver_cannot_take_the_grpc_port(tmp_path):
    grpc_port, http_port = free_port(), free_port()
    first = up(tmp_path / "first", grpc_port, http_port)
    try:
        assert first.stdout.readline().startswith("exptrace: receiving OTLP"), first.stderr.read()
        second = up(tmp_path / "second", grpc_port, free_port())
        _, stderr = second.communicate(timeout=120)
        line = one_line_error(second, stderr)
        assert line == f"exptrace: cannot listen on 127.0.0.1:{grpc_port} for OTLP/gRPC: " + (
            "the port is in use"
        )
        assert stderr.strip() == line  # nothing else: no log lines of grpcio's own
        # Every export reaches the first receiver (distinct exports: identical bytes would be
        # recognised as retries and stored once).
        for _ in range(20):
            grpc_export(grpc_port, traces("only-first", [span("op")]).SerializeToString())
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 0
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from exptrace.ingest.store.backends import open_store;"
            "print(open_store(sys.argv[1]).query("
            "\"SELECT count() FROM otel_traces WHERE ServiceName = 'only-first'\").scalar())",
            f"chdb://{tmp_path / 'first' / 'store'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert count.stdout.strip() == "20", count.stderr


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--http", "127.0.0.1:99999"], "must be HOST:PORT, PORT 0 to 65535"),
        (["--grpc", "127.0.0.1:70000"], "must be HOST:PORT, PORT 0 to 65535"),
        (["--retention-days", "-3"], "--retention-days / EXPTRACE_RETENTION_DAYS must be 0 (keep)"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path, flags, words):
    result = subprocess.run(
        [EXPTRACE, "up", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert words in one_line_error(result, result.stderr)
