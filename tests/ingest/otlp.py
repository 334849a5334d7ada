"""Raw OTLP requests built from plain Python values, for tests that control every byte."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status


def any_value(value: Any) -> AnyValue:
    """The OTLP ``AnyValue`` of a Python value (None: an empty value)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(value)))
    raise TypeError(f"no AnyValue for {value!r}")


def attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def span(name: str, attrs: dict[str, Any], *, status: int = 0, message: str = "", kind: int = 2):
    now = time.time_ns()
    return Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=name,
        kind=kind,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1_000_000,
        attributes=attributes(attrs),
        status=Status(code=status, message=message),
    )


def traces(service: str, spans: list[Span]) -> ExportTraceServiceRequest:
    resource = Resource(attributes=attributes({"service.name": service}))
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def logs(service: str, bodies: list[Any], attrs: dict[str, Any] | None = None):
    resource = Resource(attributes=attributes({"service.name": service}))
    now = time.time_ns()
    records = [
        LogRecord(time_unix_nano=now + i, body=any_value(b), attributes=attributes(attrs or {}))
        for i, b in enumerate(bodies)
    ]
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )


def post(server, signal: str, message) -> None:
    """Send ``message`` as OTLP/HTTP protobuf; the receiver must accept it."""
    response = httpx.post(
        f"http://127.0.0.1:{server.http_port}/v1/{signal}",
        content=message.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text
