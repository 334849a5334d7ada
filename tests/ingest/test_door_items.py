"""Items the store could not keep are refused visibly (OTLP partial success), the rest lands.

Before: spans 40 days old, at 0 or at 2^64-1 were acknowledged and then dropped by the
retention TTL without a word, a span at 0 emptied its trace in ``otel_traces_trace_id_ts``,
and ids of any length were stored as sent. Now the client reads ``rejected_*`` and an
``error_message`` in the response, ``/metrics`` counts the refused items by reason, and
everything else of the same request (the same trace included) is stored. All-zero trace or
span ids (invalid under OTLP and W3C) are refused the same way.
"""

import os
import time

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.ingest.door import (
    DAY_NS,
    grpc_export,
    http_post,
    otlp_json,
    span,
    trace_response,
    traces,
)
from tests.ingest.helpers import query

ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)


def mixed_request(service: str):
    """Good spans plus one of each kind the store cannot keep; one trace mixes both."""
    now = time.time_ns()
    shared_trace = os.urandom(16)
    good = [
        span("good-1"),
        span("good-2", start=now - 29 * DAY_NS),  # inside the 30-day window
        span("good-3", start=now + 600 * 10**9),  # 10 minutes ahead: clock skew is fine
        span("root", trace_id=shared_trace, parent_span_id=b""),
        span("child-ok", trace_id=shared_trace, parent_span_id=os.urandom(8)),
        span("linked", links=[Span.Link(trace_id=os.urandom(16), span_id=os.urandom(8))]),
    ]
    bad = [
        span("old", start=now - 40 * DAY_NS),
        span("zero", start=0, trace_id=shared_trace),  # must not hide its trace
        span("max", start=(1 << 64) - 1),
        span("ahead", start=now + 2 * 3600 * 10**9),
        *(span(f"trace-id-{n}", trace_id=os.urandom(n)) for n in (0, 1, 15, 17, 32)),
        *(span(f"span-id-{n}", span_id=os.urandom(n)) for n in (0, 1, 7, 9, 16)),
        span("parent-3", parent_span_id=os.urandom(3)),
    ]
    spans = [bad[0], good[0], bad[1], *good[1:], *bad[2:]]
    return traces(service, spans), good, bad, shared_trace


def stored(server, service):
    return sorted(
        row[0]
        for row in query(
            server,
            "SELECT SpanName FROM otel_traces WHERE ServiceName = {s:String}",
            {"s": service},
        )
    )


@pytest.mark.parametrize("transport", ["grpc", "http-protobuf", "http-json"])
def test_spans_the_store_cannot_keep_are_refused_and_the_rest_is_stored(make_receiver, transport):
    server = make_receiver()
    request, good, bad, shared_trace = mixed_request(transport)
    if transport == "grpc":
        response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))
    elif transport == "http-protobuf":
        answer = http_post(server.http_port, "/v1/traces", request.SerializeToString())
        assert answer.status_code == 200
        response = trace_response(answer.content)
    else:
        answer = http_post(
            server.http_port,
            "/v1/traces",
            otlp_json(request),
            **{"content-type": "application/json"},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert int(body["partialSuccess"]["rejectedSpans"]) == len(bad)
        response = json_format.ParseDict(body, ExportTraceServiceResponse())

    # What the client sees: how many were refused and why (never the data itself).
    assert response.partial_success.rejected_spans == len(bad)
    message = response.partial_success.error_message
    assert message.startswith(f"{len(bad)} spans refused")
    for words in ("no timestamp", "older than the retention", "future", "invalid trace or span id"):
        assert words in message

    assert stored(server, transport) == sorted(s.name for s in good)
    # The trace that had a span at 0 keeps its real start in the trace-id lookup table.
    starts = query(
        server,
        "SELECT toUnixTimestamp(Start) FROM otel_traces_trace_id_ts WHERE TraceId = {t:String}",
        {"t": shared_trace.hex()},
    )
    first = min(good[3].start_time_unix_nano, good[4].start_time_unix_nano)
    assert [int(row[0]) for row in starts] == [first // 10**9]

    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").text
    for reason, n in (("no_timestamp", 1), ("too_old", 1), ("too_new", 2), ("bad_id", 11)):
        line = f'exptrace_ingest_items_refused_total{{signal="traces",reason="{reason}"}} {n}'
        assert line in metrics
    assert 'exptrace_ingest_items_accepted_total{signal="traces"} 6' in metrics


def test_a_request_of_only_unkeepable_spans_is_answered_without_storing(make_receiver):
    """Nothing to keep: the answer is still a partial success, and the log stays empty."""
    server = make_receiver()
    request = traces("all-bad", [span("old", start=time.time_ns() - 40 * DAY_NS)])
    response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert server.wal.total_bytes == 0
    assert stored(server, "all-bad") == []


def test_retention_zero_keeps_old_spans(make_receiver):
    """With retention 0 (keep forever) an old span is kept; a span at 0 is still refused."""
    server = make_receiver(retention_days=0)
    now = time.time_ns()
    request = traces("forever", [span("old", start=now - 400 * DAY_NS), span("zero", start=0)])
    response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert stored(server, "forever") == ["old"]


def test_log_records_and_data_points_are_screened_too(make_receiver):
    server = make_receiver()
    now = time.time_ns()
    records = [
        LogRecord(time_unix_nano=now, body={"string_value": "kept"}),
        # no event time, but an observed time: kept, stamped with the observed time
        LogRecord(observed_time_unix_nano=now, body={"string_value": "observed"}),
        LogRecord(time_unix_nano=now, trace_id=os.urandom(16), body={"string_value": "traced"}),
        LogRecord(body={"string_value": "no time at all"}),
        LogRecord(time_unix_nano=now - 40 * DAY_NS, body={"string_value": "old"}),
        LogRecord(time_unix_nano=now, trace_id=os.urandom(8), body={"string_value": "short"}),
    ]
    logs = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    answer = http_post(server.http_port, "/v1/logs", logs.SerializeToString())
    response = ExportLogsServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_log_records == 3
    assert "log records refused" in response.partial_success.error_message

    def exemplar(trace_id_bytes: int) -> Exemplar:
        return Exemplar(
            time_unix_nano=now, as_int=1, trace_id=os.urandom(trace_id_bytes), span_id=b"s" * 8
        )

    points = [
        NumberDataPoint(time_unix_nano=now, as_int=1),
        NumberDataPoint(time_unix_nano=0, as_int=2),
        NumberDataPoint(time_unix_nano=now - 40 * DAY_NS, as_int=3),
        NumberDataPoint(time_unix_nano=now, as_int=4),
        NumberDataPoint(time_unix_nano=now, as_int=5, exemplars=[exemplar(15)]),
        NumberDataPoint(time_unix_nano=now, as_int=6, exemplars=[exemplar(16)]),
    ]
    metrics = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                scope_metrics=[
                    ScopeMetrics(
                        metrics=[Metric(name="door.gauge", gauge=Gauge(data_points=points))]
                    )
                ]
            )
        ]
    )
    answer = http_post(
        server.http_port,
        "/v1/metrics",
        otlp_json(metrics),
        **{"content-type": "application/json"},
    )
    assert answer.status_code == 200
    response = json_format.ParseDict(answer.json(), ExportMetricsServiceResponse())
    assert response.partial_success.rejected_data_points == 3

    assert sorted(r[0] for r in query(server, "SELECT Body FROM otel_logs")) == [
        "kept",
        "observed",
        "traced",
    ]
    values = query(server, "SELECT Value FROM otel_metrics_gauge")
    assert sorted(int(row[0]) for row in values) == [1, 4, 6]


def test_all_zero_ids_are_refused_as_partial_success(make_receiver):
    """An exporter sending an all-zero trace id, span id or parent span id is told (partial
    success, reason counted under ``bad_id``) and only the valid items are stored."""
    server = make_receiver()
    spans = [
        span("valid"),
        span("zero-trace", trace_id=ZERO_TRACE),
        span("zero-span", span_id=ZERO_SPAN),
        span("zero-parent", parent_span_id=ZERO_SPAN),
        span("valid-child", parent_span_id=b"\x01" * 8),
    ]
    request = traces("zero-ids", spans).SerializeToString()
    answer = ExportTraceServiceResponse.FromString(
        http_post(server.http_port, "/v1/traces", request).content
    )
    assert answer.partial_success.rejected_spans == 3
    assert "3 spans refused" in answer.partial_success.error_message
    grpc_answer = ExportTraceServiceResponse.FromString(
        grpc_export(server.grpc_port, traces("zero-ids-grpc", spans[:2]).SerializeToString())
    )
    assert grpc_answer.partial_success.rejected_spans == 1

    now = time.time_ns()
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(
                                time_unix_nano=now, trace_id=b"\x02" * 16, span_id=b"\x03" * 8
                            ),
                            LogRecord(time_unix_nano=now),  # no trace: ids are optional
                            LogRecord(time_unix_nano=now, trace_id=ZERO_TRACE),
                            LogRecord(time_unix_nano=now, trace_id=b"\x02" * 16, span_id=ZERO_SPAN),
                        ]
                    )
                ]
            )
        ]
    )
    log_answer = ExportLogsServiceResponse.FromString(
        http_post(server.http_port, "/v1/logs", logs.SerializeToString()).content
    )
    assert log_answer.partial_success.rejected_log_records == 2

    assert query(server, "SELECT SpanName FROM otel_traces ORDER BY SpanName") == [
        ["valid"],
        ["valid"],
        ["valid-child"],
    ]
    assert query(server, "SELECT count() FROM otel_logs") == [[2]]
    refused_items = server.stats.snapshot().refused_items
    assert refused_items[("traces", "bad_id")] == 4
    assert refused_items[("logs", "bad_id")] == 2
