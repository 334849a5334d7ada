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
    attributes: dict[str, str] = field(default_factory=dict)
    """Further span attributes, e.g. ``user.id``."""


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
        attributes += [_kv(k, v) for k, v in r.attributes.items()]
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
    from exptrace.ingest.log.wal import Signal

    for i in range(0, len(requests), batch):
        receiver.intake.accept(Signal.TRACES, encode(requests[i : i + batch]))
    assert receiver.flusher.flush_now(120)


CLUSTERED_INSERT = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
                         SpanAttributes, Duration, StatusCode, HttpRoute, HttpStatusCode, Experiments)
WITH
    {seed:UInt64} AS seed,
    (u, k) -> cityHash64(seed, u, k) / 18446744073709551616.0 AS uniform,
    intDiv(number, {units:UInt64}) AS experiment_number,
    uniform(number, 1) < 0.5 AS treated,
    uniform(number, 2) < {heavy_share:Float64} AS heavy,
    toUInt64(1 + floor(-log(1 - uniform(number, 3)) * {mean_requests:Float64})
             * if(heavy, 10, 1)) AS unit_requests,
    least(1.0, -log(1 - uniform(number, 4)) * {error_rate:Float64}
               * if(treated, {error_factor:Float64}, 1)) AS unit_error_rate,
    exp({unit_sd:Float64} * sqrt(-2 * log(1 - uniform(number, 5)))
        * cos(2 * pi() * uniform(number, 6))) AS unit_speed
SELECT
    now64(9) - toIntervalMillisecond({before_ms:UInt64}
                                     + toUInt64(uniform(request, 7) * {ago_ms:UInt64})) AS Timestamp,
    lower(hex(cityHash64(seed, request, 8))) AS TraceId,
    lower(hex(cityHash64(seed, request, 9))) AS SpanId,
    '' AS ParentSpanId,
    'GET /checkout' AS SpanName,
    'Server' AS SpanKind,
    'checkout' AS ServiceName,
    if(uniform(request, 12) < {unit_share:Float64}, map('exptrace.unit', hex(cityHash64(seed, number))),
       map()) AS SpanAttributes,
    toUInt64(1e6 * base_ms + if(treated AND base_ms > {tail_above_ms:Float64}, {tail_ms:Float64}, 0) * 1e6)
        AS Duration,
    if(uniform(request, 11) < unit_error_rate, 'Error', 'Unset') AS StatusCode,
    '/checkout' AS HttpRoute,
    toUInt16(200) AS HttpStatusCode,
    map(concat({prefix:String}, toString(experiment_number)),
        if(treated, 'treatment', 'control')) AS Experiments
FROM numbers({experiments:UInt64} * {units:UInt64})
ARRAY JOIN arrayMap(i -> cityHash64(seed, number, i), range(unit_requests)) AS request
ARRAY JOIN [{mean_ms:Float64} * unit_speed * -log(1 - uniform(request, 10))] AS base_ms
"""


def insert_clustered(store, **overrides) -> None:
    """Users (units) split 50/50 between control and treatment, generated in the engine.

    Each unit sends ``1 + Geometric`` requests (mean ``mean_requests``), ten times as many for
    the ``heavy_share`` of heavy users; its own error propensity is exponential around
    ``error_rate`` and its own speed log-normal (``unit_sd``); request latency is exponential
    around that. Treatment multiplies the propensity by ``error_factor`` and adds ``tail_ms``
    to requests slower than ``tail_above_ms``. Experiments are named ``prefix0..``. Only a
    ``unit_share`` of requests carry the unit id (the others, as from a service that does
    not propagate it, carry none). Requests start in the ``ago_ms`` before ``before_ms`` ago.
    """
    params = {
        "seed": 1,
        "units": 1000,
        "experiments": 1,
        "heavy_share": 0.2,
        "mean_requests": 2.0,
        "error_rate": 0.05,
        "error_factor": 1.0,
        "unit_sd": 0.5,
        "mean_ms": 50.0,
        "tail_above_ms": 1e12,
        "tail_ms": 0.0,
        "ago_ms": 600_000,
        "before_ms": 0,
        "unit_share": 1.0,
        "prefix": "sim-",
        **overrides,
    }
    store.command(CLUSTERED_INSERT, params)
