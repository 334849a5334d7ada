"""Synthetic OTLP spans, built directly as protobuf and sent through the real ingest path."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status


@dataclass
class Request:
    service: str
    route: str
    experiments: dict[str, str]
    duration_ms: float
    error: bool = False
    kind: int = Span.SPAN_KIND_SERVER
    trace_id: bytes = field(default_factory=lambda: os.urandom(16))
    span_id: bytes = field(default_factory=lambda: os.urandom(8))
    parent_span_id: bytes = b""
    ago_seconds: float = 60.0


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def encode(requests: list[Request]) -> bytes:
    now = time.time_ns()
    by_service: dict[str, list[Span]] = {}
    for r in requests:
        start = now - int(r.ago_seconds * 1e9)
        attributes = [
            _kv("http.route", r.route),
            _kv("http.response.status_code", 500 if r.error else 200),
        ]
        attributes += [_kv(f"exp.{k}", v) for k, v in r.experiments.items()]
        by_service.setdefault(r.service, []).append(
            Span(
                trace_id=r.trace_id,
                span_id=r.span_id,
                parent_span_id=r.parent_span_id,
                name=f"GET {r.route}",
                kind=r.kind,
                start_time_unix_nano=start,
                end_time_unix_nano=start + int(r.duration_ms * 1e6),
                attributes=attributes,
                status=Status(
                    code=Status.STATUS_CODE_ERROR if r.error else Status.STATUS_CODE_UNSET
                ),
            )
        )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_kv("service.name", service)]),
                scope_spans=[ScopeSpans(spans=spans)],
            )
            for service, spans in by_service.items()
        ]
    ).SerializeToString()


def experiment(
    rng: random.Random,
    experiment_id: str,
    arms: dict[str, tuple[int, float, float]],
    service: str = "checkout",
    route: str = "/checkout",
    ago_seconds: float = 60.0,
) -> list[Request]:
    """``arms``: variant -> (requests, error probability, mean latency ms; exponential)."""
    out = []
    for variant, (n, p_error, mean_ms) in arms.items():
        for _ in range(n):
            out.append(
                Request(
                    service,
                    route,
                    {experiment_id: variant},
                    duration_ms=rng.expovariate(1 / mean_ms),
                    error=rng.random() < p_error,
                    ago_seconds=ago_seconds * rng.random(),
                )
            )
    return out


def send(receiver, requests: list[Request], batch: int = 2000) -> None:
    from exptrace.ingest.wal import Signal

    for i in range(0, len(requests), batch):
        receiver.intake.accept(Signal.TRACES, encode(requests[i : i + batch]))
    assert receiver.flusher.flush_now(120)
