"""What both middlewares do per request, independent of ASGI or WSGI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context

from exptrace.propagation.assign import Assigner, RequestView
from exptrace.propagation.context import current_assignments, with_assignments
from exptrace.propagation.members import (
    BAGGAGE_PREFIX,
    DROP_OVERSIZE,
    Collected,
    cookie_value,
    format_baggage,
    format_members,
)
from exptrace.propagation.metrics import RequestMetrics
from exptrace.propagation.settings import PropagationSettings

COOKIE_SEPARATOR = "&"
W3C_BAGGAGE_MAX_BYTES = 8192
"""OpenTelemetry's W3C baggage propagator ignores a longer header and logs it verbatim."""


@dataclass(slots=True)
class Resolved:
    """The outcome for one request."""

    assignments: dict[str, str]
    attributes: dict[str, str]
    """The same assignments as ``exp.<id>`` attribute keys."""
    baggage_header: str | None
    """A replacement ``baggage`` header for inner layers (empty: remove it), or None to keep it.

    Set when the request gained members, so that OpenTelemetry middleware inside ours, which
    extracts from the headers into a fresh context, sees them; and when the header is over the
    W3C size limit, so that no inner layer logs it.
    """
    context: Context | None
    """The context to attach for the request, or None when nothing changes."""


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
            RequestMetrics(meter_provider) if hooks_on and self.settings.record_metrics else None
        )
        self.writes_response = self.settings.echo_header or self.settings.set_cookie

    def resolve(
        self,
        baggage: str | None,
        edge: str | None,
        cookies: str | None,
        view: Callable[[], RequestView],
    ) -> Resolved:
        """Collect assignments: current context, then baggage, edge header, cookie, hook.

        An experiment keeps the variant of the first source that names it.
        """
        collected = Collected(self.limits)
        oversized = baggage is not None and len(baggage) > W3C_BAGGAGE_MAX_BYTES
        if oversized:
            collected.drop(DROP_OVERSIZE)
            baggage = None
        inherited = current_assignments()
        if inherited:
            collected.offer_all(inherited)
        if baggage:
            collected.offer_members(baggage, baggage=True)
        carried = len(collected.assignments)
        rejected_in_baggage = bool(collected.dropped)
        if edge:
            collected.offer_members(edge)
        cookie_name = self.settings.cookie_name
        if cookie_name and cookies and (value := cookie_value(cookies, cookie_name)):
            collected.offer_members(value, separator=COOKIE_SEPARATOR)
        if self.assigner is not None:
            collected.offer_all(self.assigner(view(), dict(collected.assignments)))
        if collected.dropped and self.metrics is not None:
            self.metrics.record_dropped(collected.dropped)

        assignments = collected.assignments
        if not assignments and not baggage and not oversized:
            return Resolved(assignments, {}, None, None)
        new_baggage = None
        if oversized or rejected_in_baggage or len(assignments) > carried:
            new_baggage = _rebuild_baggage(baggage, assignments)
        attributes = {BAGGAGE_PREFIX + k: v for k, v in assignments.items()}
        return Resolved(assignments, attributes, new_baggage, with_assignments(assignments))

    def enter(self, resolved: Resolved, stamp: bool = True) -> object | None:
        """Attach the request's context and stamp the current span; returns a detach token."""
        if resolved.context is None:
            return None
        token = otel_context.attach(resolved.context)
        if stamp and resolved.attributes:
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attributes(resolved.attributes)
        return token

    @staticmethod
    def leave(token: object | None) -> None:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def finish(self, resolved: Resolved, seconds: float, failed: bool) -> None:
        if self.metrics is not None:
            self.metrics.record(resolved.attributes, seconds, failed)

    def response_headers(self, resolved: Resolved, secure: bool) -> list[tuple[str, str]]:
        """Headers that echo the assignments back, as configured."""
        if not resolved.assignments:
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


def _rebuild_baggage(original: str | None, assignments: dict[str, str]) -> str:
    """The original header's other members, then exactly our validated ``exp.*`` members."""
    members = [
        member
        for member in (original.split(",") if original else ())
        if member.strip() and not member.lstrip().startswith(BAGGAGE_PREFIX)
    ]
    if assignments:
        members.append(format_baggage(assignments))
    return ",".join(members)
