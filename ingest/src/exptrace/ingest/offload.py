"""CPU-bound request work (inflating, parsing) on a few threads, never on the event loop.

Whatever runs on the asyncio loop holds every HTTP route, ``/healthz`` included, for its
whole duration: a 15 MiB OTLP/JSON export took 15.8 s to parse there. Here such work runs on
threads of its own (the loop keeps its turn of the interpreter between their bytecodes), in
two lanes: ``workers`` threads for large bodies, with at most ``queue`` more waiting, and one
thread for small ones (at most :data:`SMALL_BYTES` inflated), with as many waiting, so an
SDK's small batch never queues behind other clients' large exports (before: 10 concurrent
13 MiB JSON bodies held a 5-span export for 15.3 s). Beyond its bound a request is refused
with :class:`Busy`, which a client may retry.
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
SMALL_BYTES = 256 << 10
"""Bodies this large at most, inflated, take the small lane."""


class Busy(Exception):
    """Every worker of a lane is busy and its queue is full: try again later."""


class _Lane:
    """A bounded pool: ``workers`` threads, ``queue`` more requests waiting."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"exptrace-{name}")
        self._capacity = workers + queue
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
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


class Offload:
    """The bounded lanes for the CPU-bound part of requests."""

    def __init__(self, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self._large = _Lane("body", workers, queue)
        self._small = _Lane("small-body", 1, queue)

    async def run(self, fn: Callable[[], T], *, small: bool) -> T:
        """``fn()`` on a worker thread of the small or the large lane; raises :class:`Busy`
        when too many wait there already. A small-lane ``fn`` must bound its own work to
        :data:`SMALL_BYTES` of body."""
        return await (self._small if small else self._large).run(fn)
