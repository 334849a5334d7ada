"""One export spanning many days: it lands, or is dead-lettered visibly; never trimmed unseen.

Before, an export with spans on 101 consecutive days, flushed with 5 normal exports, was
acknowledged and then lost with all of them: chDB's streaming insert returned without
raising although the engine refused the block (Code 252, too many partitions), and the log
was trimmed. Retention is 0 (keep everything) so that only the partition bound is tested.
"""

import json
import time

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.ingest.crashload import Receiver, stored
from tests.ingest.helpers import wait_for

DAY = 86_400 * 10**9


def export(service: str, days: int, trace: int) -> bytes:
    """One span per day on ``days`` consecutive days, ending now."""
    now = time.time_ns()
    spans = [
        Span(
            trace_id=trace.to_bytes(16, "big"),
            span_id=(day + 1).to_bytes(8, "big"),
            name="wide",
            start_time_unix_nano=now - day * DAY,
            end_time_unix_nano=now - day * DAY + 1000,
        )
        for day in range(days)
    ]
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def send_together(receiver: Receiver, payloads: list[bytes]) -> None:
    with httpx.Client(headers={"content-type": "application/x-protobuf"}) as client:
        for payload in payloads:
            assert client.post(receiver.url("/v1/traces"), content=payload).status_code == 200


COUNTS = "SELECT ServiceName, count(), uniqExact(toDate(Timestamp)) FROM otel_traces GROUP BY 1 ORDER BY 1"


def test_an_export_over_101_days_lands_with_the_exports_flushed_with_it(tmp_path):
    # A long flush interval: the six exports are logged in one segment and inserted together.
    receiver = Receiver(tmp_path / "data", "--retention-days", "0", EXPTRACE_FLUSH_INTERVAL="30")
    receiver.start()
    receiver.wait_ready()
    send_together(
        receiver, [export("wide", 101, 1), *(export(f"day-{i}", 1, 2 + i) for i in range(5))]
    )
    assert receiver.stop() == 0  # drains: one insert of six exports
    assert stored(receiver.data_dir, COUNTS) == [
        *([f"day-{i}", 1, 1] for i in range(5)),
        ["wide", 101, 101],
    ]


@pytest.mark.slow
def test_an_export_over_1001_days_is_dead_lettered_and_its_neighbours_land(tmp_path):
    """Past the bound of partitions per insert the engine refuses the export (Code 252, not
    a data error by class): after a bounded number of attempts it is isolated, kept in the
    dead-letter directory with the reason and counted; the user sees it there and in
    /metrics, and every other export is stored."""
    receiver = Receiver(
        tmp_path / "data",
        "--retention-days",
        "0",
        EXPTRACE_FLUSH_INTERVAL="30",
        EXPTRACE_STORE_RETRY_MAX_DELAY="0.5",
    )
    receiver.start()
    receiver.wait_ready()
    wide = export("too-wide", 1001, 1)
    send_together(
        receiver,
        [
            *(export(f"day-{i}", 1, 2 + i) for i in range(3)),
            wide,
            export("day-3", 1, 5),
            export("day-4", 1, 6),
        ],
    )
    # The segment is sealed after 30 s, then refused 5 times, split, and the export isolated.
    dead_letters = 'exptrace_ingest_dead_letters_total{kind="traces"}'
    wait_for(lambda: receiver.metric(dead_letters) == 1, timeout=180)
    receiver.wait_drained()
    assert receiver.stop() == 0
    assert stored(receiver.data_dir, COUNTS) == [[f"day-{i}", 1, 1] for i in range(5)]
    [letter] = (receiver.data_dir / "dead-letter").glob("*.json")
    reason = json.loads(letter.read_text())
    assert reason["error_code"] == 252 and "partitions" in reason["error"]
    assert (letter.parent / reason["data_file"]).read_bytes() == wide
