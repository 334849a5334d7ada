"""What an operator sees from ``exptrace up`` (the real process) given bad settings or a busy
HTTP port, after an independent tester's findings.

Before: ``EXPTRACE_REDACT_MASKS=notjson`` (or ``\\d{13,19}``, split at its comma, or a JSON
object) started a receiver that stored e-mail addresses and bearer tokens verbatim, the
default masks silently replaced; ``--retention-days -3`` named the Python field
``retention_days``; a busy HTTP port printed uvicorn's own ``ERROR: [Errno 98]`` line next
to exptrace's. Now each is exactly one line naming the variable (and flag) or the port, with
exit status 2, and nothing starts.
"""

import os
import socket
import subprocess

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from exptrace.ingest.settings import IngestSettings
from tests.ingest.door import http_post, span, traces
from tests.ingest.helpers import query
from tests.ingest.test_door_process import EXPTRACE, free_port, one_line_error


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


def test_an_re2_mask_with_a_comma_masks_what_it_names(make_receiver):
    """A JSON array is the only form: a pattern keeps its commas, and RE2 syntax Python's re
    lacks (``\\p{Lu}``) is taken; what it names is masked, the rest stored as sent."""
    variable = '["\\\\p{Lu}{3}-\\\\d{2,4}"]'
    masks = IngestSettings.from_env({"EXPTRACE_REDACT_MASKS": variable}).redact_masks
    assert masks == ("\\p{Lu}{3}-\\d{2,4}",)
    server = make_receiver(redact_masks=masks)
    attributes = [
        KeyValue(key="order", value=AnyValue(string_value="ref ABC-1234 ok")),
        KeyValue(key="kept", value=AnyValue(string_value="abc-12 mail@example.com")),
    ]
    request = traces("masks", [span("op", attributes=attributes)]).SerializeToString()
    assert http_post(server.http_port, "/v1/traces", request).status_code == 200
    assert query(
        server, "SELECT SpanAttributes['order'], SpanAttributes['kept'] FROM otel_traces"
    ) == [
        ["ref <redacted> ok", "abc-12 mail@example.com"]  # the default masks were replaced
    ]


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
