"""A span processor that stamps the current assignments on every span at start."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

from exptrace.propagation.context import AttributeMemo


class ExperimentSpanProcessor(SpanProcessor):
    """Copies the ``exp.*`` baggage members of the parent context onto each started span.

    Works for spans started anywhere the context flows: asyncio tasks, ``asyncio.to_thread``,
    callables wrapped with :func:`exptrace.propagation.bind`, background tasks.
    """

    def __init__(self) -> None:
        self._attributes = AttributeMemo()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # One set_attribute per key costs half of set_attributes for the usual one or two.
        for key, value in self._attributes(parent_context).items():
            span.set_attribute(key, value)
