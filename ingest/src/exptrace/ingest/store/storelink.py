"""The receiver's store, reached in the background when a server is down at start.

A ClickHouse server that does not answer when the receiver starts does not stop it: the
receiver acknowledges into its write-ahead log while a thread keeps trying to open the store
and set it up (``setup``: schema, views), the wait doubling up to ``max_delay``. Until then
every call raises :class:`StoreUnavailable`, so the flusher retries with backoff and reports
the stall, and ``/readyz`` says why. An embedded store, or a server that answers with an
error (a wrong setting, a newer schema), is set up at start as before: start-up stops.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlparse

from exptrace.ingest.errors import SchemaError, StoreError, StoreUnavailable
from exptrace.ingest.store.backends import Result, Store, open_store

log = logging.getLogger(__name__)

START_WAIT = 10.0
"""Seconds start-up waits for a server's first answer before going on without it."""
_REQUEST_ID = re.compile(r"[?&]?query_id=[0-9A-Za-z-]+")
_OS_ERROR = re.compile(r"\[Errno \d+\] [^\"'()]+")


def transient(error: BaseException) -> bool:
    """Whether ``error`` says the server could not be reached, not that it refused."""
    return (
        isinstance(error, StoreError) and error.code is None and not isinstance(error, SchemaError)
    )


def steady(text: str) -> str:
    """``text`` without the request ids a driver puts into every attempt's error."""
    return _REQUEST_ID.sub("", text)


def outage(error: StoreError) -> str | None:
    """A short reason when ``error`` says the store does not answer (the connection's OS
    error, e.g. ``[Errno 111] Connection refused``); None when it answered with an error."""
    if not transient(error):
        return None
    text = steady(str(error))
    found = _OS_ERROR.search(text)
    if found is not None:
        return found.group(0).strip()
    return "timed out" if "timed out" in text.lower() else text[:120]


class OutageNotes:
    """Says why a store error reached a reader: short for the reader, while the log gets
    the driver's whole text once per change (not at every request)."""

    def __init__(self) -> None:
        self._said = ""
        self._lock = threading.Lock()

    def describe(self, error: StoreError) -> str:
        reason = outage(error)
        if reason is None:
            return f"the store failed: {str(error)[:500]}"
        detail = steady(str(error))
        with self._lock:
            said, self._said = self._said, detail
        if detail != said:
            log.warning("the store is not answering: %s", detail)
        return f"the store is not answering: {reason}"


class LinkedStore(Store):
    """The store at ``url`` once it is open and ``setup`` has run on it.

    ``lock`` is held while ``setup`` runs and the store is published: whoever changes what
    ``setup`` creates holds it too, and acts on the store only when :attr:`ready`. ``views``
    names the views ``setup`` creates again (see :func:`open_store`).
    """

    def __init__(
        self,
        url: str,
        setup: Callable[[Store], None],
        *,
        max_delay: float = 5.0,
        start_wait: float = START_WAIT,
        views: Collection[str] = (),
    ) -> None:
        self._target = url
        parsed = urlparse(url)
        self.url = parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()
        self.lock = threading.Lock()
        self._setup = setup
        self._views = views
        self._max_delay = max_delay
        self._inner: Store | None = None
        self._error = "not tried yet"
        self._fatal: BaseException | None = None
        self._waiting = True
        self._answered = threading.Event()
        self._stop = threading.Event()
        if url.split("://", 1)[0].lower() == "chdb":
            self._open()  # embedded: it opens or start-up stops
            return
        thread = threading.Thread(target=self._run, name="exptrace-store-link", daemon=True)
        thread.start()
        self._answered.wait(start_wait)
        self._waiting = False
        if self._fatal is not None:
            raise self._fatal
        if self._inner is None:
            log.warning(
                "the store %s does not answer (%s); receiving into the write-ahead log and "
                "retrying in the background",
                self.url,
                self._error,
            )

    @property
    def ready(self) -> bool:
        """Whether the store is open and set up."""
        return self._inner is not None

    def _open(self) -> None:
        store = open_store(self._target, self._views)
        try:
            with self.lock:
                self._setup(store)
                self._inner = store
        except BaseException:
            store.close()
            raise

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._open()
            except Exception as error:
                if self._waiting and not transient(error):
                    self._fatal = error  # start-up reports it and stops
                    self._answered.set()
                    return
                said, self._error = self._error, steady(str(error))[:300]
                if not self._waiting and self._error != said:  # once per change of error
                    log.warning("the store %s: %s; retrying", self.url, self._error)
            else:
                if not self._waiting:
                    log.warning("the store %s answers again and is set up", self.url)
                self._answered.set()
                return
            self._answered.set()
            self._stop.wait(delay)
            delay = min(delay * 2, self._max_delay)

    def _store(self) -> Store:
        inner = self._inner
        if inner is None:
            raise StoreUnavailable(f"the store is not reachable yet: {self._error}")
        return inner

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._store().command(sql, parameters)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Result:
        return self._store().query(sql, parameters)

    def insert_raw(
        self, table: str, data: bytes, fmt: str, settings: Mapping[str, str | int]
    ) -> None:
        self._store().insert_raw(table, data, fmt, settings)

    def insert_protobuf(
        self, table: str, data: bytes, schema: str, message: str, settings: Mapping[str, str | int]
    ) -> None:
        self._store().insert_protobuf(table, data, schema, message, settings)

    def free_bytes(self) -> int | None:
        inner = self._inner
        return inner.free_bytes() if inner is not None else None

    def close(self) -> None:
        self._stop.set()
        if self._inner is not None:
            self._inner.close()
