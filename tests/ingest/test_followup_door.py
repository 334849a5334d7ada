"""What clients see at the receiver's door, after an independent tester's findings.

Before: a body sent too slowly was cut without the promised ``408`` (the connection just
closed); ``Authorization: bearer <token>`` (lower-case scheme, valid under RFC 7235) was
refused with 401/UNAUTHENTICATED on OTLP/HTTP, OTLP/gRPC and the API; spans and log records
with an all-zero trace or span id (invalid under OTLP and W3C) were acknowledged and stored.
"""

import selectors
import socket
import time

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query.api import Queries
from exptrace.query.http_api import api_routes
from exptrace.query.registry import Registry
from tests.ingest.door import TRACE_METHOD, grpc_export, http_post, span, traces
from tests.ingest.helpers import query

ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)


def _grpc_export(port: int, payload: bytes, authorization: str) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        return call(payload, timeout=30, metadata=(("authorization", authorization),))


def _read_until_closed(sock: socket.socket, patience: float = 60.0) -> bytes:
    """Everything the receiver sends until it hangs up (or ``patience`` runs out)."""
    selector = selectors.DefaultSelector()
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ)
    answer = b""
    deadline = time.monotonic() + patience
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                answer += chunk
    finally:
        selector.close()
    return answer


def test_a_body_sent_too_slowly_is_answered_408(make_receiver):
    """The client that sent its headers and 2 of 100 announced body bytes reads
    ``HTTP/1.1 408 Request Timeout`` before the connection closes, and it is counted."""
    server = make_receiver(http_body_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
            b"content-length: 100\r\n\r\n\x0a\x00"
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert server.stats.snapshot().refused[("unknown", "body_timeout")] == 1
    # The receiver goes on answering others.
    request = traces("after-slow-body", [span("op")]).SerializeToString()
    assert http_post(server.http_port, "/v1/traces", request).status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive_everywhere(make_receiver, scheme):
    """Any spelling of the scheme with the right token is let in on OTLP/HTTP, OTLP/gRPC,
    /metrics and the API; the token itself still has to match exactly."""

    def with_api(server):
        registry = Registry(server.store)
        queries = Queries(server.store, registry)
        server.add_routes(api_routes(queries, registry, bearer_check(server.settings.token)))

    server = make_receiver(prepare=with_api, token="s3cret")
    good, wrong = f"{scheme} s3cret", f"{scheme} S3CRET"
    request = traces(f"scheme-{scheme}", [span("op")]).SerializeToString()
    base = f"http://127.0.0.1:{server.http_port}"

    assert http_post(server.http_port, "/v1/traces", request, authorization=good).status_code == 200
    assert (
        http_post(server.http_port, "/v1/traces", request, authorization=wrong).status_code == 401
    )
    assert _grpc_export(server.grpc_port, request, good) == b""
    with pytest.raises(grpc.RpcError) as refused:
        _grpc_export(server.grpc_port, request, wrong)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert httpx.get(f"{base}/metrics", headers={"authorization": good}).status_code == 200
    api = httpx.get(f"{base}/api/v1/experiments", headers={"authorization": good})
    assert api.status_code == 200, api.text
    assert (
        httpx.get(f"{base}/api/v1/experiments", headers={"authorization": wrong}).status_code == 401
    )
    assert query(server, "SELECT count() FROM otel_traces") == [[1]]  # one export, sent twice


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
