"""What an operator sees from ``exptrace up`` (the real process) when the door cannot open.

Before: a second ``exptrace up`` bound the gRPC port a running receiver held (grpcio sets
SO_REUSEPORT), so exports were split between two stores; ``--http 127.0.0.1:99999`` wrapped
round to port 34463; ``--retention-days -3`` printed a traceback. Now each is one line on
stderr and exit status 2, and the first receiver keeps every export.

The same for bad settings and a busy HTTP port. Before: ``EXPTRACE_REDACT_MASKS=notjson`` (or
a pattern split at its comma, or a JSON object) started a receiver with the default masks
silently replaced; a bad value named the Python field; a busy HTTP port printed uvicorn's own
``ERROR: [Errno 98]`` line. Now each is one line naming the variable (and flag) or the port.
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


def _up(tmp_path, *flags: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            EXPTRACE,
            "up",
            "--data-dir",
            str(tmp_path),
            "--grpc",
            f"127.0.0.1:{free_port()}",
            *flags,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("notjson", "must be a JSON array of strings"),
        ("\\d{13,19}", "must be a JSON array of strings"),
        ('{"x":1}', "must be a JSON array of strings"),
        ('["ok", 3]', "must be a JSON array of strings"),
        # Python's re takes it, the engine's RE2 does not (before: a long engine error).
        ('["a(?=b)"]', "holds 'a(?=b)', which is not a valid RE2 pattern"),
        ('["("]', "holds '(', which is not a valid RE2 pattern"),
    ],
)
def test_a_malformed_mask_list_stops_start_up_naming_the_variable(tmp_path, value, words):
    result = _up(tmp_path, "--http", f"127.0.0.1:{free_port()}", EXPTRACE_REDACT_MASKS=value)
    line = one_line_error(result, result.stderr)
    assert line.startswith("exptrace: EXPTRACE_REDACT_MASKS "), line
    assert words in line


@pytest.mark.parametrize(
    ("flags", "env", "words"),
    [
        (["--retention-days", "-3"], {}, "--retention-days / EXPTRACE_RETENTION_DAYS must be 0"),
        ([], {"EXPTRACE_RETENTION_DAYS": "-3"}, "--retention-days / EXPTRACE_RETENTION_DAYS"),
        ([], {"EXPTRACE_HTTP_BODY_TIMEOUT": "0"}, "EXPTRACE_HTTP_BODY_TIMEOUT must be more"),
        ([], {"EXPTRACE_WAL_MAX_BYTES": "10"}, "EXPTRACE_WAL_MAX_BYTES must be at least 1024"),
    ],
)
def test_a_bad_value_names_the_variable_and_flag(tmp_path, flags, env, words):
    result = _up(tmp_path, "--http", f"127.0.0.1:{free_port()}", *flags, **env)
    line = one_line_error(result, result.stderr)
    assert words in line, line
    assert "retention_days" not in line and "_timeout " not in line


def test_a_busy_http_port_is_one_line(tmp_path):
    """Another program holds the HTTP port: one line naming it, exit status 2, no log lines
    of the HTTP server's own."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _up(tmp_path, "--http", f"127.0.0.1:{port}")
    line = one_line_error(result, result.stderr)
    assert line == f"exptrace: cannot listen on 127.0.0.1:{port} for OTLP/HTTP: the port is in use"
    assert result.stderr.strip() == line
