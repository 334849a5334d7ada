"""Deadlines for HTTP clients to send a request: slow senders cannot hold connections forever.

uvicorn waits indefinitely for a client to finish its headers or body, so a few hundred
connections that trickle bytes fill its concurrency limit and every route, health included,
answers 503. This protocol gives each request ``header_timeout`` seconds from its first byte
(or from the connection, for one that sends nothing) to complete its headers, then
``body_timeout`` seconds to complete its body; a connection past either is answered ``408``
and closed (only closed when an answer is already under way: a 408 would corrupt it). Idle
keep-alive connections stay bounded by uvicorn's own keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 30\r\n\r\nrequest not received in time\r\n"
)


def deadline_protocol(
    header_timeout: float, body_timeout: float, on_timeout: Callable[[str], None]
) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class with these deadlines; ``on_timeout`` counts cut requests
    (its argument says which deadline passed: ``headers`` or ``body``)."""

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float, phase: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire, phase)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self, phase: str) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            on_timeout(phase)
            if self._nothing_being_answered(phase):
                self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

        def _nothing_being_answered(self, phase: str) -> bool:
            """May a 408 be written without cutting into another response? While headers
            are awaited the previous request's answer must be complete; while a body is
            awaited, its own request's answer must not have begun."""
            if self.cycle is None:
                return True
            if phase == "headers":
                return self.cycle.response_complete
            return not self.cycle.response_started

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(header_timeout, "headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm(header_timeout, "headers")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(body_timeout, "body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()

    return DeadlineProtocol
