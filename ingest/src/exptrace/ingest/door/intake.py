"""What both receivers do with an export request: validate, screen, count, make it durable."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from exptrace.ingest import defaults
from exptrace.ingest.door._otlpjson import JsonConverter, to_protobuf
from exptrace.ingest.door.validation import (
    DEFAULT_MAX_NESTED_VALUE_BYTES,
    Screened,
    TimeWindow,
    screen,
)
from exptrace.ingest.errors import NotOtlpJson, Refused, WalError, WalFull
from exptrace.ingest.log import RecentExports, Signal, Ticket, WriteAheadLog
from exptrace.ingest.stats import IngestStats

REQUEST_TYPES = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
}
RESPONSE_TYPES = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
}
REJECTED_FIELDS = {
    Signal.TRACES: "rejected_spans",
    Signal.LOGS: "rejected_log_records",
    Signal.METRICS: "rejected_data_points",
}


@dataclass
class Intake:
    wal: WriteAheadLog
    stats: IngestStats
    recent: RecentExports
    retry_after: float = 5.0
    durable_timeout: float = 30.0
    retention_days: int = defaults.RETENTION_DAYS
    """Items older than this are refused (partial success): the store would drop them."""
    max_future_seconds: float = 3600.0
    """Items stamped further ahead of this receiver's clock are refused (partial success)."""
    max_nested_value_bytes: int = DEFAULT_MAX_NESTED_VALUE_BYTES
    """Items holding a larger array or key-value list value are refused (partial success)."""

    def parse(self, signal: Signal, payload: bytes) -> object:
        """Decode to check the request is well-formed OTLP; raises Refused otherwise."""
        started = time.thread_time()
        try:
            return REQUEST_TYPES[signal].FromString(payload)
        except DecodeError as error:
            self.stats.refused_request(signal, "malformed")
            raise Refused(
                "malformed",
                f"not a valid OTLP {signal.name.lower()} request: {error}",
                retryable=False,
            ) from None
        finally:
            self.stats.cpu("door_decode", time.thread_time() - started)

    def parse_json(
        self, signal: Signal, body: bytes, convert: JsonConverter = to_protobuf
    ) -> tuple[bytes, object]:
        """An OTLP/JSON request as protobuf bytes and the decoded message; Refused if bad.

        ``convert`` does the conversion (:func:`exptrace.ingest.door._otlpjson.to_protobuf`, or
        the same in another process)."""
        try:
            payload = convert(REQUEST_TYPES[signal], body)
        except NotOtlpJson as error:
            self.stats.refused_request(signal, "malformed")
            raise Refused("malformed", str(error), retryable=False) from None
        return payload, self.parse(signal, payload)

    def accept(self, signal: Signal, payload: bytes, request: object | None = None) -> Screened:
        """Validate, screen and durably log one request; returns what was kept and refused.

        Items the store could not keep are taken out (see :mod:`exptrace.ingest.door.validation`);
        what is logged is the canonical encoding of the rest.
        """
        if request is None:
            request = self.parse(signal, payload)
        started = time.thread_time()
        window = TimeWindow.now(self.retention_days, self.max_future_seconds)
        screened = screen(signal, request, len(payload), window, self.max_nested_value_bytes)
        self.stats.cpu("door_screen", time.thread_time() - started)
        if screened.kept > 0 and not self._log(signal, screened.payload, screened.kept):
            return screened  # a client's retry of an export already logged: counted there
        # Counted once the answer is certain: a retried request would count twice.
        if screened.refused:
            self.stats.refused_items(signal, screened.refused)
        self.stats.accepted_request(signal, screened.kept)
        return screened

    def _log(self, signal: Signal, payload: bytes, items: int) -> bool:
        """Append durably unless the same export was logged within the dedup window.

        True when logged now, False for a recognised retry. The digest is of the canonical
        bytes the log holds, so exports still in the log after a restart are recognised too.
        Raises Refused (retryable) when the log is full or failing.
        """
        started = time.thread_time()
        appending = 0.0

        def append_durable() -> Ticket:
            nonlocal appending
            began = time.thread_time()
            try:
                ticket = self.wal.append(signal, payload)
            finally:
                appending = time.thread_time() - began
                self.stats.cpu("wal_append", appending)
            self.wal.wait(ticket, self.durable_timeout)
            return ticket

        try:
            return self.recent.admit(signal, payload, items, append_durable)
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
        finally:
            self.stats.cpu("door_dedup", time.thread_time() - started - appending)

    def response(self, signal: Signal, screened: Screened) -> Any:
        """The Export*ServiceResponse: empty, or a partial success naming what was refused."""
        response = RESPONSE_TYPES[signal]()
        if screened.refused:
            partial = response.partial_success
            setattr(partial, REJECTED_FIELDS[signal], screened.refused_count)
            partial.error_message = screened.message(signal)
        return response
