"""CPU-bound request work (inflating, parsing) on a few threads, never on the event loop.

Whatever runs on the asyncio loop holds every HTTP route, ``/healthz`` included, for its
whole duration: a 15 MiB OTLP/JSON export took 15.8 s to parse there. Here such work runs on
``workers`` threads of its own (the loop keeps its turn of the interpreter between their
bytecodes) and at most ``queue`` more requests wait for one; beyond that the request is
refused with :class:`Busy`, which a client may retry.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = 2
QUEUE = 64


class Busy(Exception):
    """Every worker is busy and the queue is full: try again later."""


class Offload:
    """A bounded pool for the CPU-bound part of requests."""

    def __init__(self, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="exptrace-body")
        self._capacity = workers + queue
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker thread; raises :class:`Busy` when too many wait already."""
        with self._lock:
            if self._pending >= self._capacity:
                raise Busy(f"{self._capacity} requests are being decoded or waiting to be")
            self._pending += 1
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._done()
            raise
        # Counted out when done, failed or cancelled before it ran (a client gone).
        future.add_done_callback(lambda _: self._done())
        return await asyncio.wrap_future(future)

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
