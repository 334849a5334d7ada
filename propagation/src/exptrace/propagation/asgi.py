"""Pure ASGI middleware: http and websocket requests; lifespan passes through untouched."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import metrics

from exptrace.propagation.assign import Assigner, RequestView
from exptrace.propagation.propagator import RESOLVED_KEY
from exptrace.propagation.request import RequestHandler
from exptrace.propagation.settings import PropagationSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ExperimentMiddleware:
    """Carry the experiment assignment of each request through the whole request.

    Reads ``exp.*`` baggage members, the edge header (``x-experiment``) and the optional cookie,
    runs the assignment hook, validates, makes the result the current baggage so that
    instrumented outbound clients carry it, stamps the server span and records per-cohort
    metrics. Works inside or outside OpenTelemetry's own ASGI middleware.

    >>> app = ExperimentMiddleware(app, PropagationSettings(cookie_name="exp"))
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: PropagationSettings | None = None,
        *,
        assigner: Assigner | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.app = app
        self._handler = RequestHandler(settings, assigner, meter_provider)
        self._header = self._handler.settings.header_name.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        handler = self._handler
        baggage = edge = cookies = None
        for name, value in scope["headers"]:
            if name == b"baggage":
                text = value.decode("latin-1")
                baggage = text if baggage is None else f"{baggage},{text}"
            elif name == self._header:
                text = value.decode("latin-1")
                edge = text if edge is None else f"{edge},{text}"
            elif name == b"cookie":
                text = value.decode("latin-1")
                cookies = text if cookies is None else f"{cookies}; {text}"

        def view() -> RequestView:
            return RequestView(
                {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            )

        resolved = handler.resolve(baggage, edge, cookies, view)
        if resolved.context is not None:
            scope[RESOLVED_KEY] = resolved
            replacement = handler.replacement_baggage(resolved)
            if replacement is not None:
                headers = [(k, v) for k, v in scope["headers"] if k != b"baggage"]
                if replacement:
                    headers.append((b"baggage", replacement.encode("latin-1")))
                scope = {**scope, "headers": headers}

        status = 0
        extra_raw = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in handler.response_headers(resolved, scope.get("scheme") in ("https", "wss"))
        ]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start" or kind == "websocket.accept":
                status = message.get("status", 101)
                if extra_raw:
                    message = {**message, "headers": [*message.get("headers", ()), *extra_raw]}
            await send(message)

        wraps = handler.metrics is not None or extra_raw
        token = handler.enter(resolved)
        start = time.perf_counter()
        failed = True
        try:
            await self.app(scope, receive, send_wrapper if wraps else send)
            failed = status >= 500
        finally:
            handler.finish(resolved, time.perf_counter() - start, failed)
            handler.leave(token)
