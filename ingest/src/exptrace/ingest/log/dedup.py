"""Recognises an export re-sent by a client after its acknowledgement was lost.

OpenTelemetry exporters serialize a batch once and resend the same bytes when an attempt
fails or times out, even if the receiver had already logged it. An export whose bytes (and
signal) are identical to one logged within ``window`` seconds is acknowledged without being
logged again, and counted.

What has been seen survives a restart without a write per request: an export still in the
write-ahead log is read back from it on start, and the digests of a segment's exports are
appended (fsynced) to ``exports-<ms>.digests`` before the flusher trims that segment. Those
files rotate every ``window``; the one before the previous is deleted. Memory: about 130
bytes per export seen in the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from exptrace.ingest.errors import WalPending
from exptrace.ingest.log.wal import Signal, Ticket, WriteAheadLog
from exptrace.ingest.stats import IngestStats

log = logging.getLogger(__name__)

ENTRY = struct.Struct("<q16s")  # unix time in ms, digest
PREFIX, SUFFIX = "exports-", ".digests"


def digest(signal: Signal, payload: bytes) -> bytes:
    h = hashlib.sha256(bytes((signal,)))
    h.update(payload)
    return h.digest()[:16]


class RecentExports:
    """Digests of the exports logged within the window, kept on disk beside the log."""

    def __init__(self, wal: WriteAheadLog, window: float, stats: IngestStats) -> None:
        self.wal = wal
        self.window = window
        self.stats = stats
        self.directory = wal.directory
        self._lock = threading.Lock()
        self._seen: dict[bytes, float] = {}  # digest -> when it was logged, oldest first
        self._segments: dict[int, list[bytes]] = {}
        self._inflight: dict[bytes, threading.Event] = {}
        self._unsure: dict[bytes, Ticket] = {}  # refused on a sync timeout, still in the log
        self._file_started = 0.0
        if window > 0:
            self._load()

    # -- the request path ---------------------------------------------------------------------

    def admit(
        self, signal: Signal, payload: bytes, items: int, append: Callable[[], Ticket]
    ) -> bool:
        """Log an export through ``append`` unless an identical one was logged within the
        window; True when logged now, False for a recognised duplicate (counted)."""
        if self.window <= 0:
            append()
            return True
        key = digest(signal, payload)
        while True:
            with self._lock:
                now = time.time()
                self._expire(now)
                if self._cut(key):  # refused on a sync timeout, then cut: never stored
                    del self._unsure[key], self._seen[key]
                if key in self._seen:
                    self.stats.duplicate_request(signal, items)
                    return False
                pending = self._inflight.get(key)
                if pending is None:
                    done = self._inflight[key] = threading.Event()
                    break
            pending.wait(60)  # the same bytes are being logged now; their outcome decides
        try:
            ticket = append()
        except WalPending as pending_error:
            # Refused, but its bytes are in the log and may yet be stored: the client's
            # retry must be recognised, not stored a second time (unless a failed sync cuts
            # them after all: then the retry is logged).
            with self._lock:
                self._unsure[key] = pending_error.ticket
            self._settle(key, done, pending_error.ticket)
            raise
        except BaseException:
            with self._lock:
                del self._inflight[key]
            done.set()
            raise
        self._settle(key, done, ticket)
        return True

    def _settle(self, key: bytes, done: threading.Event, ticket: Ticket) -> None:
        """Remember ``key`` as logged in ``ticket``'s segment and release its waiters."""
        with self._lock:
            self._seen[key] = time.time()
            self._segments.setdefault(ticket.segment, []).append(key)
            del self._inflight[key]
        done.set()

    def _cut(self, key: bytes) -> bool:
        """Whether ``key``'s export, refused on a sync timeout, was then cut from the log."""
        unsure = self._unsure.get(key)
        return unsure is not None and self.wal.voided(unsure)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if now - seen[oldest] <= self.window:
                return
            del seen[oldest]
            self._unsure.pop(oldest, None)

    # -- persistence --------------------------------------------------------------------------

    def persist(self, seq: int) -> None:
        """Keep the digests of segment ``seq`` on disk: call before the log trims it."""
        with self._lock:
            keys = [k for k in self._segments.pop(seq, []) if not self._cut(k)]
            entries = [(self._seen[k], k) for k in keys if k in self._seen]
        if self.window <= 0 or not entries:
            return
        data = b"".join(ENTRY.pack(int(t * 1000), k) for t, k in entries)
        try:
            now = time.time()
            if now - self._file_started > self.window:
                self._rotate(now)
            with open(self._file(self._file_started), "ab") as f:
                kept = f.tell()
                try:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                except OSError:
                    f.truncate(kept)  # whole entries only
                    raise
        except OSError as error:
            # A full disk must not stop the log from draining (which frees the space): these
            # exports are still recognised until this process stops.
            log.warning("cannot keep digests of segment %d across a restart: %s", seq, error)

    def _file(self, started: float) -> Path:
        return self.directory / f"{PREFIX}{int(started * 1000)}{SUFFIX}"

    def _files(self) -> list[tuple[float, Path]]:
        out = []
        for path in self.directory.glob(f"{PREFIX}*{SUFFIX}"):
            try:
                out.append((int(path.name[len(PREFIX) : -len(SUFFIX)]) / 1000, path))
            except ValueError:
                continue
        return sorted(out)

    def _rotate(self, now: float) -> None:
        """Start a new file; every file but the one just closed is older than the window."""
        files = self._files()
        for _started, path in files[:-1]:
            path.unlink(missing_ok=True)
        self._file_started = now
        self._file(now).touch()
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _load(self) -> None:
        now = time.time()
        entries: list[tuple[float, bytes]] = []
        files = self._files()
        for _started, path in files:
            data = path.read_bytes()
            usable = len(data) - len(data) % ENTRY.size  # a torn last entry is ignored
            for ms, key in ENTRY.iter_unpack(data[:usable]):
                entries.append((ms / 1000, key))
        if files:
            self._file_started = files[-1][0]
        for seq in self.wal.sealed():
            logged = self.wal.modified(seq)
            for record in self.wal.read(seq):
                key = digest(record.signal, record.payload)
                entries.append((logged, key))
                self._segments.setdefault(seq, []).append(key)
        for logged, key in sorted(entries):
            if now - logged <= self.window:
                self._seen.pop(key, None)
                self._seen[key] = logged
