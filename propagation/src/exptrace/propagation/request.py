"""What both middlewares do per request, independent of ASGI or WSGI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context

from exptrace.propagation.assign import Assigner, RequestView
from exptrace.propagation.context import (
    UNIT_MEMBER,
    current_assignments,
    current_unit,
    unit_from_header,
    with_assignments,
)
from exptrace.propagation.members import (
    BAGGAGE_PREFIX,
    DROP_OVERSIZE,
    Collected,
    cookie_value,
    format_baggage,
    format_members,
)
from exptrace.propagation.metrics import Cohort, RequestMetrics
from exptrace.propagation.propagator import has_experiment_propagator
from exptrace.propagation.settings import PropagationSettings

COOKIE_SEPARATOR = "&"
W3C_BAGGAGE_MAX_BYTES = 8192
"""OpenTelemetry's W3C baggage propagator ignores a longer header and logs it verbatim."""
CACHE_SIZE = 1024
"""Distinct (baggage, header, cookie) values whose outcome is remembered."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The outcome for one request; shared between requests with the same headers."""

    assignments: dict[str, str]
    cohort: Cohort
    """The assignments as sorted ``(exp.<id>, variant)`` pairs: span attributes, metric key."""
    dropped: dict[str, int]
    baggage_header: str | None
    """A replacement ``baggage`` header for inner layers (empty: remove it), or None to keep it.

    Set when the header carried invalid ``exp.*`` members or is over the W3C size limit, so
    that no inner layer logs them, and when the request gained members or the assigner
    revised them: OpenTelemetry middleware inside ours extracts from the headers into a fresh
    context and must see them.
    """
    needs_rewrite: bool
    """The header must be replaced whatever propagators are configured (invalid or oversized)."""
    context: Context | None
    """The context to attach for the request, or None when nothing changes."""
    unit: str | None = None
    """The randomization unit's keyed hash (``exptrace.unit``), stamped beside the cohort."""


NOTHING = Resolved({}, (), {}, None, False, None)


class RequestHandler:
    """Resolves a request's assignments and records its outcome."""

    def __init__(
        self,
        settings: PropagationSettings | None,
        assigner: Assigner | None,
        meter_provider: metrics.MeterProvider | None,
    ) -> None:
        self.settings = settings if settings is not None else PropagationSettings.from_env()
        self.limits = self.settings.limits
        self.assigner = assigner
        hooks_on = not self.settings.sdk_disabled
        self.metrics = (
            RequestMetrics.for_provider(meter_provider)
            if hooks_on and self.settings.record_metrics
            else None
        )
        self.writes_response = self.settings.echo_header or self.settings.set_cookie
        self._cache: dict[tuple[str | None, str | None, str | None], Resolved] = {}
        self._textmap: object = None
        self._textmap_reads_key = False
        self._warned_limits = False
        """Said once: the assigner's assignments do not all fit this service's limits."""

    def resolve(
        self,
        baggage: str | None,
        edge: str | None,
        cookies: str | None,
        view: Callable[[], RequestView],
    ) -> Resolved:
        """Collect assignments: current context, then baggage, edge header, cookie, hook.

        An experiment keeps the variant of the first source that names it. Header values
        repeat across requests, so the outcome for a given set of values is cached when
        nothing request-specific (an inherited context, the assignment hook) is involved.
        """
        cookie_name = self.settings.cookie_name
        cookie = cookie_value(cookies, cookie_name) if cookie_name and cookies else None
        current = otel_context.get_current()
        inherited = current_assignments(current) if current else {}
        unit = current_unit(current) if current else None
        cacheable = not current and self.assigner is None
        if cacheable:
            resolved = self._cache.get((baggage, edge, cookie))
            if resolved is None:
                resolved = self._resolve(baggage, edge, cookie, inherited, unit, view)
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                self._cache[(baggage, edge, cookie)] = resolved
        elif baggage or edge or cookie or inherited or self.assigner is not None:
            resolved = self._resolve(baggage, edge, cookie, inherited, unit, view)
        else:
            resolved = NOTHING
        if resolved.dropped and self.metrics is not None:
            self.metrics.record_dropped(resolved.dropped)
        return resolved

    def _resolve(
        self,
        baggage: str | None,
        edge: str | None,
        cookie: str | None,
        inherited: dict[str, str],
        unit: str | None,
        view: Callable[[], RequestView],
    ) -> Resolved:
        collected = Collected(self.limits)
        oversized = baggage is not None and len(baggage) > W3C_BAGGAGE_MAX_BYTES
        if oversized:
            collected.drop(DROP_OVERSIZE)
            baggage = None
        if inherited:
            collected.offer_all(inherited)
        if baggage:
            collected.offer_members(baggage, baggage=True)
        carried = len(collected.assignments)
        rejected_in_baggage = bool(collected.dropped)
        if edge:
            collected.offer_members(edge)
        if cookie:
            collected.offer_members(cookie, separator=COOKIE_SEPARATOR)
        unit = unit or unit_from_header(baggage)
        carried_unit = unit is not None
        revised = False
        if self.assigner is not None:
            request = view()
            before = sum(collected.dropped.values())
            collected.offer_all(self.assigner(request, dict(collected.assignments)))
            if not self._warned_limits and sum(collected.dropped.values()) > before:
                self._warned_limits = True
                _log.warning(
                    "exptrace: this service's limits leave out assignments its assigner "
                    "makes (EXPTRACE_MAX_EXPERIMENTS=%d, EXPTRACE_MAX_TOKEN_LENGTH=%d; "
                    "dropped so far: %s): those experiments get no traffic here; raise "
                    "the limits to carry them",
                    self.limits.max_experiments,
                    self.limits.max_token_length,
                    dict(collected.dropped),
                )
            token_of = getattr(self.assigner, "unit_token", None)
            if unit is None and token_of is not None:
                unit = token_of(request)
            revise = getattr(self.assigner, "revise", None)
            if revise is not None:
                kept = dict(revise(collected.assignments))
                revised = kept != collected.assignments
                collected.assignments = kept

        assignments = collected.assignments
        if not assignments and not baggage and not oversized and not revised:
            return Resolved({}, (), collected.dropped, None, False, None)
        must_rewrite = oversized or rejected_in_baggage
        new_baggage = None
        new_unit = unit if assignments and unit and not carried_unit else None
        if must_rewrite or len(assignments) > carried or new_unit or revised:
            new_baggage = _rebuild_baggage(baggage, assignments, new_unit)
        cohort = tuple(sorted((BAGGAGE_PREFIX + k, v) for k, v in assignments.items()))
        unit = unit if assignments else None
        context = with_assignments(assignments, unit=unit)
        return Resolved(
            assignments, cohort, collected.dropped, new_baggage, must_rewrite, context, unit
        )

    def replacement_baggage(self, resolved: Resolved) -> str | None:
        """The ``baggage`` header inner layers should see, or None to leave it as it is.

        When the global propagator includes :class:`ExperimentPropagator`, inner
        OpenTelemetry middleware gets the assignments from ``RESOLVED_KEY`` through it, so
        valid headers are left alone; otherwise the header carries them.
        """
        if resolved.baggage_header is None:
            return None
        if resolved.needs_rewrite:
            return resolved.baggage_header
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._textmap, self._textmap_reads_key = textmap, has_experiment_propagator(textmap)
        return None if self._textmap_reads_key else resolved.baggage_header

    def enter(self, resolved: Resolved, stamp: bool = True) -> object | None:
        """Attach the request's context and stamp the current span; returns a detach token."""
        if resolved.context is None:
            return None
        token = otel_context.attach(resolved.context)
        if stamp and resolved.cohort:
            span = trace.get_current_span()
            if span.is_recording():
                for key, value in resolved.cohort:
                    span.set_attribute(key, value)
                if resolved.unit:
                    span.set_attribute(UNIT_MEMBER, resolved.unit)
        return token

    @staticmethod
    def leave(token: object | None) -> None:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def finish(self, resolved: Resolved, seconds: float, failed: bool) -> None:
        if self.metrics is not None:
            self.metrics.record(resolved.cohort, seconds, failed)

    def response_headers(self, resolved: Resolved, secure: bool) -> list[tuple[str, str]]:
        """Headers that echo the assignments back, as configured."""
        if not self.writes_response or not resolved.assignments:
            return []
        settings = self.settings
        headers = []
        if settings.echo_header:
            headers.append((settings.header_name, format_members(resolved.assignments)))
        if settings.set_cookie:
            value = format_members(resolved.assignments, COOKIE_SEPARATOR)
            cookie = (
                f"{settings.cookie_name}={value}; Path=/; Max-Age={settings.cookie_max_age}; "
                "SameSite=Lax; HttpOnly"
            )
            headers.append(("set-cookie", cookie + ("; Secure" if secure else "")))
        return headers


def _rebuild_baggage(
    original: str | None, assignments: dict[str, str], unit: str | None = None
) -> str:
    """The original header's other members, then exactly our validated ``exp.*`` members,
    then the unit when it is new."""
    members = [
        member
        for member in (original.split(",") if original else ())
        if member.strip() and not member.lstrip().startswith(BAGGAGE_PREFIX)
    ]
    if assignments:
        members.append(format_baggage(assignments))
    if unit:
        members.append(f"{UNIT_MEMBER}={unit}")
    return ",".join(members)
