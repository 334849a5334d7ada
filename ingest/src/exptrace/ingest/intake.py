"""What both receivers do with an export request: validate, count, make it durable."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from exptrace.ingest.stats import IngestStats
from exptrace.ingest.wal import Signal, WalError, WalFull, WriteAheadLog

REQUEST_TYPES = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
}


class Refused(Exception):
    """An export that was not acknowledged; ``retryable`` says whether the client may retry."""

    def __init__(self, reason: str, message: str, *, retryable: bool, retry_after: float = 0):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class Intake:
    wal: WriteAheadLog
    stats: IngestStats
    retry_after: float = 5.0
    durable_timeout: float = 30.0

    def parse(self, signal: Signal, payload: bytes) -> object:
        """Decode to check the request is well-formed OTLP; raises Refused otherwise."""
        try:
            return REQUEST_TYPES[signal].FromString(payload)
        except DecodeError as error:
            self.stats.refused_request(signal, "malformed")
            raise Refused(
                "malformed",
                f"not a valid OTLP {signal.name.lower()} request: {error}",
                retryable=False,
            ) from None

    def accept(self, signal: Signal, payload: bytes, request: object | None = None) -> int:
        """Validate and durably log one request; returns the number of items in it."""
        if request is None:
            request = self.parse(signal, payload)
        items = count_items(signal, request)
        if items == 0:
            self.stats.accepted_request(signal, 0)
            return 0  # nothing to store: acknowledge without touching the log
        try:
            self.wal.append_durable(signal, payload, self.durable_timeout)
        except WalFull as error:
            self.stats.refused_request(signal, "log_full")
            raise Refused(
                "log_full", str(error), retryable=True, retry_after=self.retry_after
            ) from None
        except WalError as error:
            self.stats.refused_request(signal, "log_error")
            raise Refused(
                "log_error", str(error), retryable=True, retry_after=self.retry_after
            ) from None
        self.stats.accepted_request(signal, items)
        return items


def count_items(signal: Signal, request: object) -> int:
    """Spans, log records or metric data points in a decoded request."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    total += len(getattr(metric, kind).data_points)
    return total
