"""Whether the store answers, found off the request path: asking never blocks.

A probe (``SELECT 1``) runs on its own thread at most every ``every`` seconds and only while
someone asks; the last answer is kept. A probe that has not returned within ``timeout`` is
itself the answer (a hung server), so ``/readyz`` answers at once whatever the store does,
and any number of probes hold at most one thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StoreProbe:
    """The cached outcome of ``check`` (raises when the store cannot answer)."""

    def __init__(
        self, check: Callable[[], None], *, timeout: float = 1.0, every: float = 1.0
    ) -> None:
        self.check = check
        self.timeout = timeout
        self.every = every
        self._lock = threading.Lock()
        self._started: float | None = None  # the probe in flight, if any
        self._finished = float("-inf")
        self._problem: str | None = None

    def problem(self) -> str | None:
        """Why the store is not answering (None: it answered the last probe); never blocks."""
        now = time.monotonic()
        with self._lock:
            if self._started is not None:
                if now - self._started > self.timeout:
                    return f"the store has not answered for {now - self._started:.0f}s"
            elif now - self._finished >= self.every:
                self._started = now
                threading.Thread(
                    target=self._probe, name="exptrace-store-probe", daemon=True
                ).start()
            return self._problem

    def _probe(self) -> None:
        try:
            self.check()
            problem = None
        except Exception as error:
            problem = f"store unreachable: {str(error)[:200]}"
        with self._lock:
            self._problem = problem
            self._started = None
            self._finished = time.monotonic()
