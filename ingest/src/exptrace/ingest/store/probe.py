"""Whether the store answers, found off the request path: asking never blocks.

One thread probes the store (``check``, a ``SELECT 1``) every ``every`` seconds and keeps the
last answer. A probe that has not returned within ``timeout`` is itself the answer (a hung
server), so ``/readyz`` answers at once whatever the store does, and however many clients
ask, the store sees one probe at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StoreProbe:
    """The last outcome of ``check`` (which raises when the store cannot answer)."""

    def __init__(
        self, check: Callable[[], None], *, timeout: float = 1.0, every: float = 1.0
    ) -> None:
        self.check = check
        self.timeout = timeout
        self.every = every
        self._started: float | None = None  # the probe in flight, if any
        self._problem: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exptrace-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (a probe in flight is not waited for)."""
        self._stop.set()

    def problem(self) -> str | None:
        """Why the store is not answering (None: it answered the last probe); never blocks."""
        started = self._started
        if started is not None and time.monotonic() - started > self.timeout:
            return f"the store has not answered for {time.monotonic() - started:.0f}s"
        return self._problem

    def _run(self) -> None:
        while not self._stop.is_set():
            self._started = time.monotonic()
            try:
                self.check()
                self._problem = None
            except Exception as error:
                self._problem = f"store unreachable: {str(error)[:200]}"
            self._started = None
            self._stop.wait(self.every)
