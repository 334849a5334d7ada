"""The write-ahead log: an export is acknowledged only once its bytes are on disk.

Records are ``header | payload``: a magic, the signal, the payload length and a CRC-32 of
signal and payload, so a torn tail after a crash is detected and cut on open and never
half-read. Appends from concurrent requests are fsynced together by one syncer thread (group
commit). Segments are sealed by size or age; the flusher reads sealed segments and removes
each only after its rows are committed to the store. The total size on disk is bounded:
past it, :class:`WalFull` asks clients to back off.
"""

from __future__ import annotations

import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from exptrace.ingest.locking import DirectoryLock

MAGIC = b"EXW1"
HEADER = struct.Struct("<4sBxII")  # magic, signal, pad, payload length, crc32
SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".wal"


class Signal(IntEnum):
    TRACES = 1
    LOGS = 2
    METRICS = 3


class WalError(Exception):
    """The log could not take or keep a record."""


class WalFull(WalError):
    """The log reached its size bound; clients should retry later."""


class WalBusy(WalError):
    """Another process owns the log directory."""


@dataclass(frozen=True)
class Ticket:
    """Where an appended record ends; durable once the syncer has passed it."""

    segment: int
    end: int


@dataclass(frozen=True)
class Record:
    signal: Signal
    payload: bytes


class _Segment:
    __slots__ = ("created", "fd", "path", "seq", "size")

    def __init__(self, path: Path, seq: int) -> None:
        self.path = path
        self.seq = seq
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.created = time.monotonic()


class WriteAheadLog:
    """Durable, bounded, segmented log of raw OTLP export requests."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = DirectoryLock(self.directory, WalBusy)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.id = self._log_id()
        self.repaired_bytes = 0
        self._lock = threading.Lock()  # appends and sealing
        self._synced = threading.Condition()
        self._sealed: list[int] = []
        self._sizes: dict[int, int] = {}
        for seq in self._existing():
            self._sizes[seq] = self._repair(seq)
            self._sealed.append(seq)
        self._active = self._open(max(self._sizes, default=0) + 1)
        self._durable = Ticket(self._active.seq, 0)
        self._dirty = threading.Event()
        self._closed = False
        self._sync_error: OSError | None = None
        self._syncer = threading.Thread(
            target=self._sync_loop, name="exptrace-wal-sync", daemon=True
        )
        self._syncer.start()

    # -- identity and recovery ------------------------------------------------------------

    def _log_id(self) -> str:
        path = self.directory / "id"
        if not path.exists():
            path.write_text(secrets.token_hex(8))
        return path.read_text().strip()

    def _existing(self) -> list[int]:
        seqs = []
        for path in self.directory.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}"):
            try:
                seqs.append(int(path.name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]))
            except ValueError:
                continue
        return sorted(seqs)

    def _path(self, seq: int) -> Path:
        return self.directory / f"{SEGMENT_PREFIX}{seq:012d}{SEGMENT_SUFFIX}"

    def _repair(self, seq: int) -> int:
        """Cut a torn or corrupt tail; returns the segment's valid size."""
        path = self._path(seq)
        data = path.read_bytes()
        valid = 0
        for _record, end in _scan(data):
            valid = end
        if valid < len(data):
            self.repaired_bytes += len(data) - valid
            with open(path, "r+b") as f:
                f.truncate(valid)
                f.flush()
                os.fsync(f.fileno())
        return valid

    def _open(self, seq: int) -> _Segment:
        segment = _Segment(self._path(seq), seq)
        self._sizes[seq] = segment.size
        _fsync_dir(self.directory)
        return segment

    # -- writing ----------------------------------------------------------------------------

    def append(self, signal: Signal, payload: bytes) -> Ticket:
        """Write one record; raises :class:`WalFull` past the size bound."""
        header = HEADER.pack(MAGIC, signal, len(payload), _crc(signal, payload))
        size = len(header) + len(payload)
        with self._lock:
            if self._closed:
                raise WalError("the write-ahead log is closed")
            if self._sync_error is not None:
                raise WalError(f"the write-ahead log cannot sync: {self._sync_error}")
            if self.total_bytes + size > self.max_bytes:
                raise WalFull(
                    f"the write-ahead log holds {self.total_bytes} of {self.max_bytes} bytes"
                )
            if self._active.size and self._active.size + size > self.segment_bytes:
                self._seal_active()
            try:
                written = os.write(self._active.fd, header + payload)
            except OSError as error:
                self._truncate_active()
                raise WalError(f"cannot write the write-ahead log: {error}") from error
            if written != size:
                self._truncate_active()
                raise WalError("short write to the write-ahead log (disk full?)")
            self._active.size += size
            self._sizes[self._active.seq] = self._active.size
            ticket = Ticket(self._active.seq, self._active.size)
        self._dirty.set()
        return ticket

    def _truncate_active(self) -> None:
        """Undo a partial write so the active segment ends on a record boundary."""
        os.ftruncate(self._active.fd, self._active.size)

    def wait(self, ticket: Ticket, timeout: float = 30.0) -> None:
        """Block until ``ticket`` is on disk; raises WalError on timeout or sync failure."""
        deadline = time.monotonic() + timeout
        with self._synced:
            while not self._is_durable(ticket):
                if self._sync_error is not None:
                    raise WalError(f"the write-ahead log cannot sync: {self._sync_error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WalError("timed out waiting for the write-ahead log to sync")
                self._synced.wait(remaining)

    def append_durable(self, signal: Signal, payload: bytes, timeout: float = 30.0) -> Ticket:
        """Append and wait until the record is durable: the acknowledgement point."""
        ticket = self.append(signal, payload)
        self.wait(ticket, timeout)
        return ticket

    def _is_durable(self, ticket: Ticket) -> bool:
        durable = self._durable
        return ticket.segment < durable.segment or (
            ticket.segment == durable.segment and ticket.end <= durable.end
        )

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            with self._lock:
                if self._closed:
                    return
                segment, end, fd = self._active.seq, self._active.size, self._active.fd
                fd = os.dup(fd)
            try:
                os.fsync(fd)
            except OSError as error:
                with self._synced:
                    self._sync_error = error
                    self._synced.notify_all()
                continue
            finally:
                os.close(fd)
            with self._synced:
                if (segment, end) > (self._durable.segment, self._durable.end):
                    self._durable = Ticket(segment, end)
                self._synced.notify_all()

    # -- sealing and reading -----------------------------------------------------------------

    def _seal_active(self) -> None:
        """Close the active segment (fsynced) and start the next; caller holds ``_lock``."""
        old = self._active
        os.fsync(old.fd)
        os.close(old.fd)
        self._sealed.append(old.seq)
        self._active = self._open(old.seq + 1)
        with self._synced:
            self._durable = Ticket(self._active.seq, 0)
            self._synced.notify_all()

    def seal_if_older(self, seconds: float) -> bool:
        """Seal the active segment if it has records and is at least ``seconds`` old."""
        with self._lock:
            if self._closed or not self._active.size:
                return False
            if time.monotonic() - self._active.created < seconds:
                return False
            self._seal_active()
            return True

    def sealed(self) -> list[int]:
        """Sealed segments waiting to be flushed, oldest first."""
        with self._lock:
            return list(self._sealed)

    def read(self, seq: int) -> list[Record]:
        """The records of a sealed segment."""
        return [record for record, _end in _scan(self._path(seq).read_bytes())]

    def remove(self, seq: int) -> None:
        """Drop a flushed segment: its rows are committed to the store."""
        with self._lock:
            self._sealed.remove(seq)
            self._sizes.pop(seq, None)
        self._path(seq).unlink(missing_ok=True)
        _fsync_dir(self.directory)

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    @property
    def segments(self) -> int:
        return len(self._sizes)

    def oldest_sealed_age(self) -> float:
        """Seconds since the oldest unflushed sealed segment was last written, or 0."""
        sealed = self.sealed()
        if not sealed:
            return 0.0
        try:
            return max(0.0, time.time() - self._path(sealed[0]).stat().st_mtime)
        except FileNotFoundError:
            return 0.0

    def close(self) -> None:
        """Sync and close; unflushed segments stay on disk for the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.fsync(self._active.fd)
            os.close(self._active.fd)
            if not self._active.size:
                self._active.path.unlink(missing_ok=True)
        self._dirty.set()
        self._syncer.join(5)
        self._lock_file.release()


def _crc(signal: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(bytes((signal,))))


def _scan(data: bytes) -> Iterator[tuple[Record, int]]:
    """Valid records from the start of ``data`` with their end offsets; stops at damage."""
    offset, size = 0, len(data)
    while offset + HEADER.size <= size:
        magic, signal, length, crc = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        end = start + length
        if magic != MAGIC or end > size or signal not in Signal._value2member_map_:
            return
        payload = data[start:end]
        if _crc(signal, payload) != crc:
            return
        yield Record(Signal(signal), payload), end
        offset = end


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
