"""WSGI middleware with the same behaviour as the ASGI one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry import metrics

from exptrace.propagation.assign import Assigner, RequestView
from exptrace.propagation.propagator import RESOLVED_KEY
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
        if resolved.context is not None:
            environ[RESOLVED_KEY] = resolved
            replacement = handler.replacement_baggage(resolved)
            if replacement:
                environ["HTTP_BAGGAGE"] = replacement
            elif replacement is not None:
                environ.pop("HTTP_BAGGAGE", None)
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
            raise
        finally:
            handler.leave(token)
        return _Body(body, handler, resolved, start, outcome)


class _Outcome:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 0


class _Body:
    """The app's response body, iterated under the request's context.

    The context is attached around each chunk rather than held between calls, so a server that
    is slow to close a body cannot leak one request's assignments into the next. The request
    is finished (metrics recorded) when the body is exhausted or closed, whichever comes first.
    """

    __slots__ = ("_body", "_finished", "_handler", "_iterator", "_outcome", "_resolved", "_start")

    def __init__(
        self,
        body: Iterable[bytes],
        handler: RequestHandler,
        resolved: Resolved,
        start: float,
        outcome: _Outcome,
    ) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._handler = handler
        self._resolved = resolved
        self._start = start
        self._outcome = outcome
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        token = self._handler.enter(self._resolved, stamp=False)
        try:
            if self._iterator is None:
                self._iterator = iter(self._body)
            return next(self._iterator)
        except StopIteration:
            self._finish(failed=False)
            raise
        except BaseException:
            self._finish(failed=True)
            raise
        finally:
            self._handler.leave(token)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(failed=False)

    def _finish(self, failed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        status = self._outcome.status
        failed = failed or status >= 500 or status == 0
        self._handler.finish(self._resolved, time.perf_counter() - self._start, failed)
