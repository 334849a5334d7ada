"""The ``experiment`` text-map propagator, for ``OTEL_PROPAGATORS``."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from exptrace.propagation.context import (
    current_assignments,
    current_unit,
    unit_from_header,
    with_assignments,
)
from exptrace.propagation.members import Collected, format_members
from exptrace.propagation.settings import PropagationSettings

BAGGAGE_HEADER = "baggage"
RESOLVED_KEY = "exptrace.resolved"
"""Scope/environ key under which exptrace's middleware leaves what it resolved."""


class ExperimentPropagator(TextMapPropagator):
    """Reads assignments from ``exp.*`` baggage members and the edge header into baggage,
    and keeps the randomization unit (``exptrace.unit``) beside them.

    Registered as ``experiment`` so ``OTEL_PROPAGATORS=tracecontext,baggage,experiment`` works
    with ``opentelemetry-instrument``. It reads the ``baggage`` header itself, so its result
    does not depend on where it stands in the list, and it validates what it keeps: invalid
    ``exp.*`` members from upstream are removed, never logged. OpenTelemetry's framework
    instrumentations extract again inside exptrace's middleware, into a fresh context: the
    unit the middleware resolved (or the header carried) must come out of this extract too,
    or it is lost for the rest of the request. On inject it writes nothing
    unless ``inject_header`` is set: the W3C baggage propagator already carries ``exp.*``.
    """

    def __init__(self, settings: PropagationSettings | None = None) -> None:
        self._settings = settings if settings is not None else PropagationSettings.from_env()
        self._limits = self._settings.limits

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        if context is None:
            context = otel_context.get_current()
        resolved = carrier.get(RESOLVED_KEY) if isinstance(carrier, Mapping) else None
        if resolved is not None:
            # exptrace's middleware outside this extract already read and validated the request.
            return with_assignments(resolved.assignments, context, unit=resolved.unit)
        collected = Collected(self._limits)
        collected.offer_all(current_assignments(context))
        unit = current_unit(context)
        for value in getter.get(carrier, BAGGAGE_HEADER) or ():
            collected.offer_members(value, baggage=True)
            unit = unit or unit_from_header(value)
        for value in getter.get(carrier, self._settings.header_name) or ():
            collected.offer_members(value)
        return with_assignments(collected.assignments, context, unit=unit)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        if not self._settings.inject_header:
            return
        assignments = current_assignments(context)
        if assignments:
            setter.set(carrier, self._settings.header_name, format_members(assignments))

    @property
    def fields(self) -> set[str]:
        return {self._settings.header_name} if self._settings.inject_header else set()


def has_experiment_propagator(propagator: object) -> bool:
    """True when ``propagator`` is, or is a composite containing, an ExperimentPropagator."""
    if isinstance(propagator, ExperimentPropagator):
        return True
    inner = getattr(propagator, "_propagators", ())
    return any(has_experiment_propagator(p) for p in inner)
