"""What both receivers do with an export request: validate, count, make it durable."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from exptrace.ingest.dedup import RecentExports
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
    recent: RecentExports
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

    def parse_json(self, signal: Signal, body: bytes) -> tuple[bytes, object]:
        """An OTLP/JSON request as protobuf bytes and the decoded message; Refused if bad."""
        try:
            document = json.loads(body)
            _hex_ids_to_base64(document)
            message = json_format.ParseDict(document, REQUEST_TYPES[signal]())
        except (ValueError, json_format.ParseError) as error:
            self.stats.refused_request(signal, "malformed")
            raise Refused(
                "malformed", f"not a valid OTLP/JSON request: {error}", retryable=False
            ) from None
        return message.SerializeToString(), message

    def accept(self, signal: Signal, payload: bytes, request: object | None = None) -> int:
        """Validate and durably log one request; returns the number of items in it."""
        if request is None:
            request = self.parse(signal, payload)
        items = count_items(signal, request)
        if items == 0:
            self.stats.accepted_request(signal, 0)
            return 0  # nothing to store: acknowledge without touching the log
        try:
            logged = self.recent.admit(
                signal,
                payload,
                items,
                lambda: self.wal.append_durable(signal, payload, self.durable_timeout),
            )
            if not logged:
                return items  # a client's retry of an export already logged: counted there
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


_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON encodes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key} is not hex: {value[:64]!r}") from None
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


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
