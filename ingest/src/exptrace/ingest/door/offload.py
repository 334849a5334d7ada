"""CPU-bound request work (inflating, parsing) on a few threads, never on the event loop.

Whatever runs on the asyncio loop holds every HTTP route, ``/healthz`` included, for its
whole duration: a 15 MiB OTLP/JSON export took 15.8 s to parse there. Here such work runs on
threads of its own (the loop keeps its turn of the interpreter between their bytecodes), in
two lanes: ``workers`` threads for large bodies, with at most ``queue`` more waiting, and one
thread for small ones (at most :data:`SMALL_BYTES` inflated), with as many waiting, so an
SDK's small batch never queues behind other clients' large exports (before: 10 concurrent
13 MiB JSON bodies held a 5-span export for 15.3 s). Beyond its bound a request is refused
with :class:`Busy`, which a client may retry.

Work that holds the interpreter lock for long in one C call (``json.loads`` of a large body:
about a second for 13 MiB, while neither the loop nor the small lane runs) goes from a
large-lane thread to one of ``workers`` processes of its own (:meth:`Offload.in_process`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from exptrace.ingest.errors import Busy

T = TypeVar("T")
P = ParamSpec("P")

WORKERS = 2
QUEUE = 64
SMALL_BYTES = 256 << 10
"""Bodies this large at most, inflated, take the small lane."""


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


def _exit_with(parent: int) -> None:
    """A worker process's initializer: end the worker once ``parent`` is gone (a receiver
    killed with SIGKILL never shuts its pool down, and the workers would wait forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exptrace-parent-watch", daemon=True).start()


class _Processes:
    """``workers`` processes, started when first needed (a fresh interpreter each: the
    receiver's threads and store are not forked), ending with the receiver however it ends;
    a pool whose process died is replaced."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self._workers,
                    mp_context=context,
                    initializer=_exit_with,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        pool = self._current()
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False)
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class Offload:
    """The bounded lanes for the CPU-bound part of requests."""

    def __init__(self, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self._large = _Lane("body", workers, queue)
        self._small = _Lane("small-body", 1, queue)
        self._processes = _Processes(workers)

    def in_process(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker process, waited for (from a large-lane thread:
        at most ``workers`` at once). ``fn`` and its arguments must pickle."""
        return self._processes.call(fn, *args, **kwargs)

    def close(self) -> None:
        """Stop the worker processes."""
        self._processes.close()

    async def run(self, fn: Callable[[], T], *, small: bool) -> T:
        """``fn()`` on a worker thread of the small or the large lane; raises :class:`Busy`
        when too many wait there already. A small-lane ``fn`` must bound its own work to
        :data:`SMALL_BYTES` of body."""
        return await (self._small if small else self._large).run(fn)
