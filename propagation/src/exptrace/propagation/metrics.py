"""Per-cohort metrics: what the middleware records, and a meter wrapper for application code.

OpenTelemetry's metrics SDK has no hook that adds context to measurements, so assignments are
added where the measurement is made: by the middleware for requests, and by
:class:`CohortMeter` instruments for application metrics.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import Attributes

from exptrace.propagation.context import experiment_attributes
from exptrace.propagation.version import __version__

SCOPE = "exptrace.propagation"
REQUESTS = "exptrace.server.requests"
ERRORS = "exptrace.server.errors"
DURATION = "exptrace.server.duration"
DROPPED = "exptrace.assignments.dropped"

# Seconds; OpenTelemetry's recommended boundaries for http.server.request.duration.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def _meter(meter_provider: metrics.MeterProvider | None) -> Meter:
    return metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)


Cohort = tuple[tuple[str, str], ...]
"""A cohort's ``exp.*`` attributes as a hashable key."""

OVERFLOW: Cohort = (("otel.metric.overflow", "true"),)
MAX_COHORTS = 2000
"""Distinct cohorts kept before the rest are counted under OVERFLOW (as the SDK does)."""
MAX_PENDING = 65536
"""Durations buffered between collections before they are handed to the SDK inline."""


class RequestMetrics:
    """Request count, error count and duration per cohort, plus dropped-assignment counts.

    The request path only updates local counts and appends the duration to a buffer (well under
    a microsecond). Counts are exported through observable counters; buffered durations go into
    the SDK histogram when a reader collects (the counters' callback runs first), or inline
    once MAX_PENDING accumulate, so memory stays bounded even when nothing ever collects.
    One instance serves each meter provider; use :meth:`for_provider`.
    """

    _instances: ClassVar[weakref.WeakKeyDictionary[object, RequestMetrics]] = (
        weakref.WeakKeyDictionary()
    )
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_provider(cls, meter_provider: metrics.MeterProvider | None) -> RequestMetrics:
        """The instance for ``meter_provider`` (the global one when None)."""
        key = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        with cls._instances_lock:
            instance = cls._instances.get(key)
            if instance is None:
                instance = cls._instances[key] = cls(key)
            return instance

    def __init__(self, meter_provider: metrics.MeterProvider) -> None:
        meter = _meter(meter_provider)
        self._lock = threading.Lock()
        self._counts: dict[Cohort, list[int]] = {}
        self._pending: list[tuple[Cohort, float]] = []
        self._dropped: dict[str, int] = {}
        self._duration = meter.create_histogram(
            DURATION,
            unit="s",
            description="Request duration, by experiment assignment.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        meter.create_observable_counter(
            REQUESTS,
            callbacks=[self._observe_requests],
            unit="{request}",
            description="Requests served, by experiment assignment.",
        )
        meter.create_observable_counter(
            ERRORS,
            callbacks=[self._observe_errors],
            unit="{request}",
            description="Requests that failed (status >= 500 or an exception), by assignment.",
        )
        meter.create_observable_counter(
            DROPPED,
            callbacks=[self._observe_dropped],
            unit="{member}",
            description="Assignment members dropped: invalid, unknown, limit or oversize.",
        )

    def record(self, cohort: Cohort, seconds: float, failed: bool) -> None:
        """Count one finished request of ``cohort``."""
        with self._lock:
            counts = self._counts.get(cohort)
            if counts is None:
                if len(self._counts) >= MAX_COHORTS:
                    cohort = OVERFLOW
                counts = self._counts.setdefault(cohort, [0, 0])
            counts[0] += 1
            if failed:
                counts[1] += 1
            self._pending.append((cohort, seconds))
            full = len(self._pending) >= MAX_PENDING
        if full:
            self.flush_durations()

    def record_dropped(self, dropped: Mapping[str, int]) -> None:
        with self._lock:
            for reason, count in dropped.items():
                self._dropped[reason] = self._dropped.get(reason, 0) + count

    def flush_durations(self) -> None:
        """Hand buffered durations to the SDK histogram."""
        with self._lock:
            pending, self._pending = self._pending, []
        record = self._duration.record
        attributes: dict[Cohort, dict[str, str]] = {}
        for cohort, seconds in pending:
            attrs = attributes.get(cohort)
            if attrs is None:
                attrs = attributes[cohort] = dict(cohort)
            record(seconds, attrs)

    def _observe_requests(self, options: CallbackOptions) -> Iterable[Observation]:
        self.flush_durations()
        with self._lock:
            counts = [(cohort, c[0]) for cohort, c in self._counts.items()]
        return [Observation(n, dict(cohort)) for cohort, n in counts]

    def _observe_errors(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = [(cohort, c[1]) for cohort, c in self._counts.items() if c[1]]
        return [Observation(n, dict(cohort)) for cohort, n in counts]

    def _observe_dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(n, {"reason": r}) for r, n in self._dropped.items()]


def _with_assignments(attributes: Attributes, context: Context | None) -> dict[str, Any]:
    merged: dict[str, Any] = experiment_attributes(context)
    if attributes:
        merged.update(attributes)
    return merged


class _CohortInstrument:
    __slots__ = ("_instrument",)

    def __init__(self, instrument: Any) -> None:
        self._instrument = instrument


class CohortCounter(_CohortInstrument):
    def add(
        self, amount: int | float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        self._instrument.add(amount, _with_assignments(attributes, context), context)


class CohortHistogram(_CohortInstrument):
    def record(
        self, amount: int | float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        self._instrument.record(amount, _with_assignments(attributes, context), context)


class CohortGauge(_CohortInstrument):
    def set(
        self, amount: int | float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        self._instrument.set(amount, _with_assignments(attributes, context), context)


class CohortMeter:
    """A meter whose synchronous instruments add the current ``exp.*`` assignments.

    >>> meter = CohortMeter("checkout")
    >>> orders = meter.create_counter("orders.placed")
    >>> orders.add(1, {"payment": "card"})  # also carries exp.checkout-v2=B, etc.
    """

    def __init__(
        self,
        name: str,
        version: str | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._meter = metrics.get_meter(name, version, meter_provider=meter_provider)

    def create_counter(self, name: str, unit: str = "", description: str = "") -> CohortCounter:
        return CohortCounter(self._meter.create_counter(name, unit=unit, description=description))

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> CohortCounter:
        instrument = self._meter.create_up_down_counter(name, unit=unit, description=description)
        return CohortCounter(instrument)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        explicit_bucket_boundaries_advisory: tuple[float, ...] | None = None,
    ) -> CohortHistogram:
        instrument = self._meter.create_histogram(
            name,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory,
        )
        return CohortHistogram(instrument)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> CohortGauge:
        return CohortGauge(self._meter.create_gauge(name, unit=unit, description=description))
