"""An export the store refuses whatever the retry: dead-lettered once, neighbours land.

Before, one export the engine refused (Code 36: an ``AnyValue`` carrying two values, which
the door's parser let through) was retried forever: nothing logged after it was stored, not
even after a restart. Here it already sits in the log, as after an upgrade from a version
whose door accepted it, between good exports.
"""

import json
import shutil

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace.export import SpanExportResult

from exptrace.ingest.log.flusher import varint
from exptrace.ingest.log.wal import Signal, WriteAheadLog
from tests.ingest.crashload import Receiver, stored
from tests.ingest.helpers import make_spans, wait_for


def _field(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + varint(len(body)) + body


def poison_export() -> bytes:
    """A trace export whose one attribute value is ``0a 01 61 18 01``: string "a" and int 1."""
    import time

    now = time.time_ns()
    span = Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        name="poison",
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1,
    ).SerializeToString()
    span += _field(0x4A, b"\x0a\x01k" + _field(0x12, b"\x0a\x01a\x18\x01"))  # attributes
    return _field(0x0A, _field(0x12, _field(0x12, span)))  # resource_spans/scope_spans/spans


@pytest.mark.slow
def test_poison_export_is_dead_lettered_once_and_storage_goes_on(tmp_path):
    data = tmp_path / "data"
    wal = WriteAheadLog(data / "wal")
    good = [encode_spans(make_spans(f"good-{i}", 2)).SerializeToString() for i in range(4)]
    poison = poison_export()
    for payload in (*good[:2], poison, *good[2:]):
        wal.append_durable(Signal.TRACES, payload)
    wal.close()
    saved = tmp_path / "wal-before"
    shutil.copytree(data / "wal", saved)

    receiver = Receiver(data)
    receiver.start()
    receiver.wait_ready()
    wait_for(lambda: receiver.metric('exptrace_ingest_dead_letters_total{kind="traces"}') == 1)
    later = make_spans("later", 3)  # exports after the poison one are stored too
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
    assert exporter.export(later) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert receiver.stop() == 0

    query = "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName ORDER BY 1"
    expected = [*([f"good-{i}", 2] for i in range(4)), ["later", 3]]
    assert stored(data, query) == expected
    [letter] = (data / "dead-letter").glob("*.json")
    reason = json.loads(letter.read_text())
    assert (reason["kind"], reason["signal"], reason["error_code"]) == ("traces", "traces", 36)
    assert "OneOf" in reason["error"]
    assert (letter.parent / reason["data_file"]).read_bytes() == poison

    # A crash after the letter was written but before the log was trimmed: the same segment
    # is read again. Its rows are not stored twice and its letter is not written or counted
    # again.
    shutil.rmtree(data / "wal")
    shutil.copytree(saved, data / "wal")
    letter_bytes = letter.read_bytes()
    receiver.start()
    receiver.wait_ready()
    receiver.wait_drained()
    assert receiver.metric('exptrace_ingest_dead_letters_total{kind="traces"}') == 0
    assert receiver.stop() == 0
    assert stored(data, query) == expected
    assert [p.name for p in (data / "dead-letter").glob("*.json")] == [letter.name]
    assert letter.read_bytes() == letter_bytes
