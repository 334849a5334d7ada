"""How often one client address may fail to authenticate: guessing the token is slowed down.

One limiter serves every door that checks the bearer token (OTLP/HTTP, OTLP/gRPC,
``/metrics``, the API and the pages), so failures at any of them count together.

A token bucket per address: ``burst`` failures at once, then one more every ``1 / rate``
seconds. At most ``max_clients`` addresses are remembered (the least recently seen is
forgotten first), so the memory it takes is bounded whatever the number of addresses.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from exptrace.ingest.errors import TooManyFailures

BURST = 10
RATE = 1.0
MAX_CLIENTS = 10_000


class FailureLimit:
    """Authentication failures per client address."""

    def __init__(
        self,
        burst: int = BURST,
        rate: float = RATE,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = rate
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (left, at)
        self._lock = threading.Lock()

    def _left(self, client: str, now: float) -> float:
        left, at = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), left + (now - at) * self.rate)

    def wait(self, client: str) -> float:
        """Seconds before ``client`` may try again (0: now)."""
        with self._lock:
            left = self._left(client, self._clock())
        return 0.0 if left >= 1 else (1 - left) / self.rate

    def check(self, client: str) -> None:
        """Raise :class:`TooManyFailures` when ``client`` must wait before trying again."""
        wait = self.wait(client)
        if wait > 0:
            raise TooManyFailures(wait)

    def failed(self, client: str) -> None:
        """Count one failure of ``client``."""
        with self._lock:
            now = self._clock()
            self._buckets[client] = (self._left(client, now) - 1, now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
