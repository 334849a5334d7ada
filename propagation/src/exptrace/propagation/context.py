"""Reading and setting the current assignments in OpenTelemetry context (W3C baggage)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from exptrace.propagation.grammar import PREFIX as BAGGAGE_PREFIX
from exptrace.propagation.grammar import is_token

_PREFIX_LEN = len(BAGGAGE_PREFIX)
UNIT_MEMBER = "exptrace.unit"
"""Baggage member and span attribute: a keyed hash of the randomization unit's id."""

P = ParamSpec("P")
R = TypeVar("R")


def experiment_attributes(context: Context | None = None) -> dict[str, str]:
    """The ``exp.<id>: variant`` attributes for the assignments in ``context`` (or the current).

    Baggage can arrive from any upstream SDK, so members that are not tokens are skipped. The
    length cap is the grammar's ceiling, not the middleware's setting: an assignment the
    middleware accepted is never dropped here.
    """
    entries = baggage.get_all(context)
    if not entries:
        return {}
    return {
        key: value
        for key, value in entries.items()
        if key.startswith(BAGGAGE_PREFIX)
        and isinstance(value, str)
        and is_token(value)
        and is_token(key[_PREFIX_LEN:])
    }


def current_unit(context: Context | None = None) -> str | None:
    """The randomization unit (its keyed hash) in ``context``'s baggage, if it is a token."""
    value = baggage.get_baggage(UNIT_MEMBER, context)
    return value if isinstance(value, str) and is_token(value) else None


def unit_from_header(header: str | None) -> str | None:
    """The :data:`UNIT_MEMBER` of a W3C ``baggage`` header, if it is a token."""
    for member in header.split(",") if header else ():
        key, _, rest = member.partition("=")
        if key.strip() == UNIT_MEMBER:
            value = rest.split(";", 1)[0].strip()
            return value if is_token(value) else None
    return None


class AttributeMemo:
    """:func:`experiment_attributes` (plus the unit) for hooks that run many times under one
    context: span and log processors. Metrics leave the unit out (it is not a metric key).

    Every span of a request sees the same baggage: validating it once and comparing the
    mapping afterwards is far cheaper than revalidating each time. Races between threads only
    cost a recomputation.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[dict[str, object], dict[str, str]] = ({}, {})

    def __call__(self, context: Context | None = None) -> dict[str, str]:
        entries = baggage.get_all(context)
        if not entries:
            return {}
        last_entries, last_attributes = self._last
        if entries == last_entries:
            return last_attributes
        attributes = experiment_attributes(context)
        unit = current_unit(context)
        if unit is not None:
            attributes[UNIT_MEMBER] = unit
        self._last = (dict(entries), attributes)
        return attributes


def current_assignments(context: Context | None = None) -> dict[str, str]:
    """The assignments (experiment id -> variant) in ``context`` or the current context."""
    return {key[_PREFIX_LEN:]: value for key, value in experiment_attributes(context).items()}


def with_assignments(
    assignments: Mapping[str, str], context: Context | None = None, unit: str | None = None
) -> Context:
    """A context whose baggage holds exactly ``assignments`` as its ``exp.*`` members, and
    ``unit`` (when given) as its :data:`UNIT_MEMBER`.

    Other baggage members are kept; stale ``exp.*`` members are replaced.
    """
    entries = baggage.get_all(context)
    stale = [key for key in entries if key.startswith(BAGGAGE_PREFIX)]
    for key in stale:
        context = baggage.remove_baggage(key, context)
    for experiment, variant in assignments.items():
        context = baggage.set_baggage(BAGGAGE_PREFIX + experiment, variant, context)
    if unit is not None:
        context = baggage.set_baggage(UNIT_MEMBER, unit, context)
    return context if context is not None else otel_context.get_current()


def bind(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so it runs under the current OpenTelemetry context wherever it is called.

    ``asyncio`` tasks and ``asyncio.to_thread`` copy context by themselves; a plain
    ``ThreadPoolExecutor.submit`` or a ``threading.Thread`` does not, so use
    ``executor.submit(bind(work), ...)`` there.
    """
    captured = otel_context.get_current()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = otel_context.attach(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run
