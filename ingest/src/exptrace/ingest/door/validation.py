"""What the door keeps of a decoded export: items the store can keep, in bytes it can parse.

Two promises meet here. The store keeps rows only inside its retention window (a TTL drops
anything older at insert) and parses the logged bytes with its own Protobuf reader, which is
stricter than upb. So every item (span, log record, metric data point) is checked for a
timestamp the store will keep and for valid trace and span ids (of the lengths OTLP defines
and not all zero, which OTLP and W3C call invalid) on spans, their parents, log records and
exemplars. A span's links are not looked at for ids: touching them costs as much per span as
every other check together, and a bad link loses nothing. The engine decodes a nested value
(an array or key-value list) a step per byte, about a millisecond per byte for everyone
whose rows share its block, so an item holding one whose encoding exceeds the bound (in its
attributes, its events' or links', a log body, an exemplar's, or its resource's or scope's)
is refused too; an item no
larger than the bound cannot hold one and is not looked into. Items
that fail are taken out and reported back to the client as OTLP partial success, never
acknowledged and then lost. What remains is re-serialized by upb without the fields it did
not know: that canonical form is what the engine parses (a oneof sent twice, a known field
with the wrong wire type or a group would otherwise be acknowledged and then refused).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exptrace.ingest.log import Signal

NANOS_PER_DAY = 86_400 * 10**9
# The engine stores DateTime64(9): nanoseconds since 1970 up to 2262-04-11.
LATEST_STORABLE_NS = (1 << 63) - 1
# All-zero ids are invalid (OTLP, W3C trace context): compared as bytes, costing next to nothing.
ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)

REASONS = {
    "no_timestamp": "carry no timestamp (0)",
    "too_old": "are older than the retention window",
    "too_new": "are too far in the future",
    "bad_id": "have an invalid trace or span id (16 and 8 bytes, not all zero; empty if optional)",
    "nested_too_large": "hold an array or key-value list value larger than the receiver's bound "
    "(EXPTRACE_MAX_NESTED_VALUE_BYTES)",
}
"""Why an item is refused, as counted on ``/metrics`` and told to the client."""


@dataclass(frozen=True)
class TimeWindow:
    """The timestamps an item may carry to be kept, in nanoseconds since the epoch."""

    oldest_ns: int
    newest_ns: int

    @classmethod
    def around(cls, now_ns: int, retention_days: int, max_future_seconds: float) -> TimeWindow:
        """From ``retention_days`` ago (0: no lower bound) to ``max_future_seconds`` ahead."""
        oldest = now_ns - retention_days * NANOS_PER_DAY if retention_days > 0 else 1
        newest = min(now_ns + int(max_future_seconds * 10**9), LATEST_STORABLE_NS)
        return cls(max(oldest, 1), newest)

    @classmethod
    def now(cls, retention_days: int, max_future_seconds: float) -> TimeWindow:
        return cls.around(time.time_ns(), retention_days, max_future_seconds)

    def reason(self, timestamp: int) -> str | None:
        """Why ``timestamp`` cannot be kept, or None when it can."""
        if timestamp == 0:
            return "no_timestamp"
        if timestamp < self.oldest_ns:
            return "too_old"
        if timestamp > self.newest_ns:
            return "too_new"
        return None


@dataclass
class Screened:
    """The outcome for one request: what is kept (as bytes to log) and what was refused."""

    payload: bytes
    kept: int
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())

    def message(self, signal: Signal) -> str:
        """The partial-success ``error_message``: counts by reason, never the data itself."""
        noun = {Signal.TRACES: "spans", Signal.LOGS: "log records", Signal.METRICS: "data points"}
        parts = [f"{n} {REASONS[reason]}" for reason, n in sorted(self.refused.items())]
        return f"{self.refused_count} {noun[signal]} refused: " + "; ".join(parts)


DEFAULT_MAX_NESTED_VALUE_BYTES = 512
"""Largest encoded array or key-value list value kept: about half a second of engine time."""

_NESTED = ("array_value", "kvlist_value")


def screen(
    signal: Signal,
    request: Any,
    encoded_size: int,
    window: TimeWindow,
    max_nested_bytes: int = DEFAULT_MAX_NESTED_VALUE_BYTES,
) -> Screened:
    """Take out the items the store cannot keep; return the canonical bytes of the rest.

    ``request`` is the decoded upb message, ``encoded_size`` the length of the bytes it was
    decoded from; it is changed in place. A nested value whose encoding exceeds
    ``max_nested_bytes`` makes its item refused.
    """
    check = _CHECKS[signal]
    refused: Counter[str] = Counter()
    # A request no larger than the bound cannot hold a larger value (its canonical encoding,
    # which the bound measures, is never longer than the bytes received): nothing to look into.
    limit = max_nested_bytes if encoded_size > max_nested_bytes else None
    kept = check(request, window, limit, refused)
    request.DiscardUnknownFields()
    return Screened(request.SerializeToString(), kept, refused)


def _valid_ids(trace_id: bytes, span_id: bytes) -> bool:
    """Both ids valid where present: 16 and 8 bytes, not all zero; either may be empty."""
    return (not trace_id or (len(trace_id) == 16 and trace_id != ZERO_TRACE_ID)) and (
        not span_id or (len(span_id) == 8 and span_id != ZERO_SPAN_ID)
    )


def _too_large(value: Any, limit: int) -> bool:
    """Whether the ``AnyValue`` ``value`` is an array or list encoded in more than ``limit``."""
    kind = value.WhichOneof("value")
    return kind in _NESTED and getattr(value, kind).ByteSize() > limit


def _any_too_large(attributes: Any, limit: int) -> bool:
    return any(_too_large(kv.value, limit) for kv in attributes)


def _fits(item: Any, limit: int | None) -> bool:
    """Cheap: True when ``item`` cannot hold a nested value larger than ``limit``."""
    return limit is None or item.ByteSize() <= limit


def _holder_too_large(resource: Any, scope: Any, limit: int | None) -> bool:
    """Whether the resource or scope its items share holds a too-large nested value."""
    return limit is not None and (
        _any_too_large(resource.attributes, limit) or _any_too_large(scope.attributes, limit)
    )


def _refuse_all(items: Any, refused: Counter[str]) -> None:
    refused["nested_too_large"] += len(items)
    del items[:]


def _span_reason(span: Any, window: TimeWindow, limit: int | None) -> str | None:
    if not (span.trace_id and span.span_id and _valid_ids(span.trace_id, span.span_id)):
        return "bad_id"
    if not _valid_ids(b"", span.parent_span_id):
        return "bad_id"
    if not _fits(span, limit) and (
        _any_too_large(span.attributes, limit)
        or any(_any_too_large(e.attributes, limit) for e in span.events)
        or any(_any_too_large(link.attributes, limit) for link in span.links)
    ):
        return "nested_too_large"
    return window.reason(span.start_time_unix_nano)


def _traces(request: Any, window: TimeWindow, limit: int | None, refused: Counter[str]) -> int:
    oldest, newest = window.oldest_ns, window.newest_ns
    kept = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            if _holder_too_large(resource_spans.resource, scope_spans.scope, limit):
                _refuse_all(spans, refused)
                continue
            for span in spans:  # the common case: every span is fine
                parent = span.parent_span_id
                if not (
                    _fits(span, limit)
                    and oldest <= span.start_time_unix_nano <= newest
                    and len(trace_id := span.trace_id) == 16
                    and trace_id != ZERO_TRACE_ID
                    and len(span_id := span.span_id) == 8
                    and span_id != ZERO_SPAN_ID
                    and (not parent or (len(parent) == 8 and parent != ZERO_SPAN_ID))
                ):
                    break
            else:
                kept += len(spans)
                continue
            kept += _remove(spans, lambda s: _span_reason(s, window, limit), refused)
    return kept


def _log_reason(record: Any, window: TimeWindow, limit: int | None) -> str | None:
    if not _valid_ids(record.trace_id, record.span_id):
        return "bad_id"
    if not _fits(record, limit) and (
        _too_large(record.body, limit) or _any_too_large(record.attributes, limit)
    ):
        return "nested_too_large"
    return window.reason(record.time_unix_nano or record.observed_time_unix_nano)


def _logs(request: Any, window: TimeWindow, limit: int | None, refused: Counter[str]) -> int:
    oldest, newest = window.oldest_ns, window.newest_ns
    kept = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            records = scope_logs.log_records
            if _holder_too_large(resource_logs.resource, scope_logs.scope, limit):
                _refuse_all(records, refused)
                continue
            for record in records:
                if not (
                    _fits(record, limit)
                    and oldest
                    <= (record.time_unix_nano or record.observed_time_unix_nano)
                    <= newest
                    and (
                        not (trace_id := record.trace_id)
                        or (len(trace_id) == 16 and trace_id != ZERO_TRACE_ID)
                    )
                    and (
                        not (span_id := record.span_id)
                        or (len(span_id) == 8 and span_id != ZERO_SPAN_ID)
                    )
                ):
                    break
            else:
                kept += len(records)
                continue
            kept += _remove(records, lambda r: _log_reason(r, window, limit), refused)
    return kept


def _point_reason(point: Any, window: TimeWindow, limit: int | None) -> str | None:
    exemplars = getattr(point, "exemplars", ())  # a summary point has none
    for exemplar in exemplars:
        if not _valid_ids(exemplar.trace_id, exemplar.span_id):
            return "bad_id"
    if not _fits(point, limit) and (
        _any_too_large(point.attributes, limit)
        or any(_any_too_large(e.filtered_attributes, limit) for e in exemplars)
    ):
        return "nested_too_large"
    return window.reason(point.time_unix_nano)


def _metrics(request: Any, window: TimeWindow, limit: int | None, refused: Counter[str]) -> int:
    oldest, newest = window.oldest_ns, window.newest_ns
    kept = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            shared = resource_metrics.resource, scope_metrics.scope
            holder_too_large = _holder_too_large(*shared, limit)
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if not kind:
                    continue
                points = getattr(metric, kind).data_points
                if holder_too_large:
                    _refuse_all(points, refused)
                    continue
                no_exemplars = kind == "summary"
                for point in points:
                    if not (
                        _fits(point, limit)
                        and oldest <= point.time_unix_nano <= newest
                        and (no_exemplars or not point.exemplars)
                    ):
                        break
                else:
                    kept += len(points)
                    continue
                kept += _remove(points, lambda p: _point_reason(p, window, limit), refused)
    return kept


def _remove(items: Any, reason_of: Any, refused: Counter[str]) -> int:
    """Delete the items ``reason_of`` objects to (counting why); returns how many remain."""
    doomed = []
    for index, item in enumerate(items):
        reason = reason_of(item)
        if reason is not None:
            refused[reason] += 1
            doomed.append(index)
    for index in reversed(doomed):
        del items[index]
    return len(items)


_CHECKS = {Signal.TRACES: _traces, Signal.LOGS: _logs, Signal.METRICS: _metrics}
