"""WSGI middleware with the same behaviour as the ASGI one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry import metrics

from exptrace.propagation.assign import Assigner, RequestView
from exptrace.propagation.request import RequestHandler, Resolved
from exptrace.propagation.settings import PropagationSettings

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class ExperimentWSGIMiddleware:
    """WSGI twin of :class:`exptrace.propagation.ExperimentMiddleware` (Flask, Django...).

    The request's context stays attached until the server closes the response body, so spans
    and logs made while a streamed body is generated carry the assignments too.
    """

    def __init__(
        self,
        app: WSGIApp,
        settings: PropagationSettings | None = None,
        *,
        assigner: Assigner | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.app = app
        self._handler = RequestHandler(settings, assigner, meter_provider)
        header = self._handler.settings.header_name
        self._environ_key = "HTTP_" + header.upper().replace("-", "_")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        handler = self._handler

        def view() -> RequestView:
            return RequestView(
                {
                    key[5:].lower().replace("_", "-"): value
                    for key, value in environ.items()
                    if key.startswith("HTTP_")
                }
            )

        resolved = handler.resolve(
            environ.get("HTTP_BAGGAGE"),
            environ.get(self._environ_key),
            environ.get("HTTP_COOKIE"),
            view,
        )
        if resolved.baggage_header is not None:
            environ = {**environ, "HTTP_BAGGAGE": resolved.baggage_header}
            if not resolved.baggage_header:
                del environ["HTTP_BAGGAGE"]
        extra = handler.response_headers(resolved, environ.get("wsgi.url_scheme") == "https")
        outcome = _Outcome()

        def start_response_wrapper(status: str, headers: list, exc_info: Any = None) -> Any:
            outcome.status = int(status[:3])
            if extra:
                headers = [*headers, *extra]
            return start_response(status, headers, exc_info)

        token = handler.enter(resolved)
        start = time.perf_counter()
        try:
            body = self.app(environ, start_response_wrapper)
        except BaseException:
            handler.finish(resolved, time.perf_counter() - start, True)
            handler.leave(token)
            raise
        return _Body(body, handler, resolved, token, start, outcome)


class _Outcome:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 0


class _Body:
    """The app's response body; finishes the request when the server closes it."""

    __slots__ = ("_body", "_failed", "_handler", "_outcome", "_resolved", "_start", "_token")

    def __init__(
        self,
        body: Iterable[bytes],
        handler: RequestHandler,
        resolved: Resolved,
        token: object | None,
        start: float,
        outcome: _Outcome,
    ) -> None:
        self._body = body
        self._handler = handler
        self._resolved = resolved
        self._token = token
        self._start = start
        self._outcome = outcome
        self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            failed = self._failed or self._outcome.status >= 500 or self._outcome.status == 0
            self._handler.finish(self._resolved, time.perf_counter() - self._start, failed)
            self._handler.leave(self._token)
