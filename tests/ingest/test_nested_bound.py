"""A nested value too large for the engine to decode quickly is refused at the door, visibly.

The engine decodes an array or key-value list value a step per byte (about a millisecond per
byte, for every row of its block), so before this bound one span holding an array of 20,000
ints (104 KB) held up storage for everyone for 89 s. Now the item holding such a value is
refused as OTLP partial success naming ``EXPTRACE_MAX_NESTED_VALUE_BYTES``, never truncated;
the rest of the request, small nested values included, is stored as before.
"""

import time

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from exptrace.ingest.door.validation import DEFAULT_MAX_NESTED_VALUE_BYTES
from exptrace.ingest.settings import IngestSettings
from exptrace.propagation.settings import SettingsError
from tests.ingest.door import grpc_export, span, trace_response, traces
from tests.ingest.helpers import query

LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def ints(n: int) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=i) for i in range(n)]))


def attribute(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def stored(server, service: str) -> dict[str, str]:
    rows = query(
        server,
        "SELECT SpanName, SpanAttributes['list'] FROM otel_traces WHERE ServiceName = {s:String}",
        {"s": service},
    )
    return {row[0]: row[1] for row in rows}


def test_spans_holding_a_too_large_nested_value_are_refused_and_the_rest_stored(make_receiver):
    """The client reads ``rejected_spans`` 3 and the setting's name; small lists are stored."""
    server = make_receiver()
    big = ints(1000)  # 4,872 bytes encoded
    assert big.array_value.ByteSize() > DEFAULT_MAX_NESTED_VALUE_BYTES
    huge_map = AnyValue(
        kvlist_value=KeyValueList(values=[attribute(f"k{i}", ints(3)) for i in range(200)])
    )
    spans = [
        span("small", attributes=[attribute("list", ints(10))]),
        span("big", attributes=[attribute("list", big)]),
        span("big-map", attributes=[attribute("list", huge_map)]),
        span("big-event", events=[Span.Event(name="e", attributes=[attribute("x", big)])]),
        # A long string is not nested: it costs the engine nothing per byte and is kept.
        span("long-string", attributes=[attribute("list", AnyValue(string_value="x" * 5000))]),
    ]
    request = traces("nested-bound", spans)
    response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))

    assert response.partial_success.rejected_spans == 3
    message = response.partial_success.error_message
    assert message.startswith("3 spans refused")
    assert "EXPTRACE_MAX_NESTED_VALUE_BYTES" in message
    kept = stored(server, "nested-bound")
    assert kept == {"small": "[" + ",".join(map(str, range(10))) + "]", "long-string": "x" * 5000}
    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").text
    line = 'exptrace_ingest_items_refused_total{signal="traces",reason="nested_too_large"} 3'
    assert line in metrics


def test_log_bodies_are_bounded_too(make_receiver):
    """A log record whose body is a too-large list is refused; its neighbour is stored."""
    server = make_receiver()
    now = time.time_ns()
    records = [
        LogRecord(time_unix_nano=now, body=ints(3)),
        LogRecord(time_unix_nano=now, body=ints(1000)),
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    answer = grpc_export(server.grpc_port, request.SerializeToString(), LOGS_METHOD)
    response = ExportLogsServiceResponse.FromString(answer)
    assert response.partial_success.rejected_log_records == 1
    assert "EXPTRACE_MAX_NESTED_VALUE_BYTES" in response.partial_success.error_message
    assert [row[0] for row in query(server, "SELECT Body FROM otel_logs")] == ["[0,1,2]"]


def test_the_bound_is_a_setting(make_receiver):
    """Raised, the same 4,872-byte list is stored whole, as JSON; 0 is refused at start."""
    server = make_receiver(max_nested_value_bytes=8192)
    request = traces("nested-raised", [span("big", attributes=[attribute("list", ints(1000))])])
    response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 0
    assert stored(server, "nested-raised") == {"big": "[" + ",".join(map(str, range(1000))) + "]"}
    with pytest.raises(SettingsError, match="MAX_NESTED_VALUE_BYTES"):
        IngestSettings.from_env({"EXPTRACE_MAX_NESTED_VALUE_BYTES": "0"})


def test_a_too_large_resource_attribute_refuses_the_items_it_describes(make_receiver):
    """The resource is stored with every span: its spans are refused, another resource's not."""
    server = make_receiver()
    request = traces("nested-resource", [span("a"), span("b")])
    request.resource_spans[0].resource.attributes.append(attribute("hosts", ints(1000)))
    request.resource_spans.extend(traces("nested-resource", [span("c")]).resource_spans)
    response = trace_response(grpc_export(server.grpc_port, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 2
    assert list(stored(server, "nested-resource")) == ["c"]
