"""Raw OTLP requests and calls for the door tests: exact bytes in, the receiver's answer out."""

from __future__ import annotations

import base64
import json
import os
import time

import grpc
import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
DAY_NS = 86_400 * 10**9


def span(name: str, start: int | None = None, **fields) -> Span:
    """A span with fresh random ids, started ``start`` (default: now)."""
    start = time.time_ns() if start is None else start
    values = {
        "trace_id": os.urandom(16),
        "span_id": os.urandom(8),
        "name": name,
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 1000 if start < (1 << 64) - 1000 else start,
        **fields,
    }
    return Span(**values)


def traces(service: str, spans: list[Span]) -> ExportTraceServiceRequest:
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def grpc_export(port: int, payload: bytes, method: str = TRACE_METHOD) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(method)(payload, timeout=30)


def http_post(port: int, path: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}{path}",
        content=content,
        headers={"content-type": "application/x-protobuf", **headers},
        timeout=30,
    )


def otlp_json(message) -> bytes:
    """OTLP/JSON as the specification writes it: trace and span ids in hex, not base64."""
    document = json_format.MessageToDict(message)

    def hexify(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hexify(value)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(document)
    return json.dumps(document).encode()


def trace_response(body: bytes) -> ExportTraceServiceResponse:
    return ExportTraceServiceResponse.FromString(body)
