"""The receiver's own counters as OTLP metrics, written into its own store through its intake."""

from __future__ import annotations

import contextlib
import threading
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from exptrace.ingest.door import Intake
from exptrace.ingest.errors import Refused
from exptrace.ingest.log import Signal


def _attrs(**values: str) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]


def snapshot(intake: Intake, started_ns: int, service_name: str) -> bytes:
    """One ExportMetricsServiceRequest with the receiver's counters and log gauges."""
    stats, now = intake.stats.snapshot(), time.time_ns()

    def counter(name: str, points: list[tuple[dict[str, str], float]], unit: str) -> Metric:
        return Metric(
            name=name,
            unit=unit,
            sum=Sum(
                aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE,
                is_monotonic=True,
                data_points=[
                    NumberDataPoint(
                        attributes=_attrs(**a),
                        start_time_unix_nano=started_ns,
                        time_unix_nano=now,
                        as_double=v,
                    )
                    for a, v in points
                ],
            ),
        )

    def gauge(name: str, value: float, unit: str) -> Metric:
        return Metric(
            name=name,
            unit=unit,
            gauge=Gauge(data_points=[NumberDataPoint(time_unix_nano=now, as_double=value)]),
        )

    metrics = [
        counter(
            "exptrace.ingest.requests.accepted",
            [({"signal": s}, n) for s, n in stats.accepted.items()],
            "{request}",
        ),
        counter(
            "exptrace.ingest.items.accepted",
            [({"signal": s}, n) for s, n in stats.accepted_items.items()],
            "{item}",
        ),
        counter(
            "exptrace.ingest.requests.refused",
            [({"signal": s, "reason": r}, n) for (s, r), n in stats.refused.items()],
            "{request}",
        ),
        counter(
            "exptrace.ingest.dead_letters",
            [({"signal": s}, n) for s, n in stats.dead_letters.items()],
            "{request}",
        ),
        counter("exptrace.ingest.store.backends.errors", [({}, stats.store_errors)], "{error}"),
        gauge("exptrace.ingest.lag", stats.last_lag_seconds, "s"),
        gauge("exptrace.ingest.log.bytes", intake.wal.total_bytes, "By"),
        gauge("exptrace.ingest.log.segments", intake.wal.segments, "{segment}"),
    ]
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=_attrs(**{"service.name": service_name})),
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(name="exptrace.ingest"), metrics=metrics
                    )
                ],
            )
        ]
    )
    return request.SerializeToString()


class SelfMetrics:
    """Every ``interval`` seconds, store a snapshot of the receiver's own metrics."""

    def __init__(self, intake: Intake, interval: float, service_name: str = "exptrace-ingest"):
        self.intake = intake
        self.interval = interval
        self.service_name = service_name
        self._started = time.time_ns()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exptrace-self-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self) -> None:
        payload = snapshot(self.intake, self._started, self.service_name)
        with contextlib.suppress(Refused):  # a full log refuses our own metrics too
            self.intake.accept(Signal.METRICS, payload)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.record()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
