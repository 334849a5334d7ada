"""Per-cohort metrics: what the middleware records, and a meter wrapper for application code.

OpenTelemetry's metrics SDK has no hook that adds context to measurements, so assignments are
added where the measurement is made: by the middleware for requests, and by
:class:`CohortMeter` instruments for application metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import Meter
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


class RequestMetrics:
    """Request count, error count and duration per cohort, plus dropped-assignment counts."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = _meter(meter_provider)
        self._requests = meter.create_counter(
            REQUESTS, unit="{request}", description="Requests served, by experiment assignment."
        )
        self._errors = meter.create_counter(
            ERRORS,
            unit="{request}",
            description="Requests that failed (status >= 500 or an exception), by assignment.",
        )
        self._duration = meter.create_histogram(
            DURATION,
            unit="s",
            description="Request duration, by experiment assignment.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._dropped = meter.create_counter(
            DROPPED,
            unit="{member}",
            description="Assignment members dropped: invalid, unknown, limit or oversize.",
        )

    def record(self, attributes: Mapping[str, str], seconds: float, failed: bool) -> None:
        self._requests.add(1, attributes)
        self._duration.record(seconds, attributes)
        if failed:
            self._errors.add(1, attributes)

    def record_dropped(self, dropped: Mapping[str, int]) -> None:
        for reason, count in dropped.items():
            self._dropped.add(count, {"reason": reason})


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
