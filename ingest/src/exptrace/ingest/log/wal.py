"""The write-ahead log: an export is acknowledged only once its bytes are on disk.

Records are ``header | payload``: a magic, the signal, the payload length and a 32-bit tag of
signal and payload, keyed with a random secret of the directory (``<wal>/key``, never sent to
clients), so bytes a client sent cannot pass for a record. On open, a torn tail (a crash in the
middle of an append, never acknowledged) is cut; a damaged record elsewhere is skipped and
reading resynchronises on the next header whose tag matches, so every intact record after it is
kept. Records of the previous form (``EXW1``, an unkeyed CRC-32) are still read where they
stand in sequence from the start of a segment, but reading never resynchronises on one. Torn
tails and damaged ranges are handed to the caller (``on_damage``) with their bytes before
anything is cut. Appends from concurrent requests are fsynced together by one syncer thread
(group commit). Segments are sealed by size or age; the flusher reads sealed segments and
removes each only after its rows are committed to the store. Segment numbers are never reused
in a directory (the highest one is the name of an empty file, ``last-segment.<n>``, renamed
before each new segment: no data block is needed, so it works on a full disk), so ``(id,
segment)`` names a segment for the life of the directory. The total size on disk is bounded:
past it, :class:`WalFull` asks clients to back off.

A fault clears by itself. When an fsync fails (EIO, ENOSPC), the records appended since the
last successful one are cut from the segment before their appenders are refused, so a refused
export is never stored (its client's retry is); the syncer retries every
:data:`FAULT_RETRY_SECONDS` and the next fsync that works ends the fault. A write that fails
(a full disk) is cut back the same way; the fault ends at the next write that works, when
the flusher frees a segment, or when the filesystem has room for a segment again.
:attr:`WriteAheadLog.fault` says why the log cannot take data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from exptrace.ingest.errors import WalBusy, WalError, WalFull, WalPending
from exptrace.ingest.store import DirectoryLock

MAGIC = b"EXW2"
LEGACY_MAGIC = b"EXW1"  # unkeyed CRC-32: read in sequence only, never resynchronised to
HEADER = struct.Struct("<4sBxII")  # magic, signal, pad, payload length, tag (or crc32)
KEY_BYTES = 32
SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".wal"
LAST_SEGMENT = "last-segment."
FAULT_RETRY_SECONDS = 0.5
"""How often a log whose fsync failed tries again, with no append asking it to."""


class Signal(IntEnum):
    TRACES = 1
    LOGS = 2
    METRICS = 3


@dataclass(frozen=True)
class Ticket:
    """Where an appended record ends; durable once the syncer has passed it."""

    segment: int
    end: int
    epoch: int = 0
    """The number of sync failures before the append: a failure voids later records."""


@dataclass(frozen=True)
class Record:
    signal: Signal
    payload: bytes
    offset: int = 0
    """Where the record starts in its segment: with the segment, its name in the log."""


@dataclass(frozen=True)
class Damage:
    """Bytes of a segment that are not an intact record, found when the log was opened."""

    log_id: str
    segment: int
    offset: int
    data: bytes
    torn_tail: bool
    """An incomplete record at the very end of the newest segment: a crash in the middle of
    an append, whose export was never acknowledged. Otherwise the bytes were damaged after
    they were written (and any intact records after them are kept)."""

    @property
    def name(self) -> str:
        """Where the bytes were, as a file name: log id, segment, offset."""
        return f"{self.log_id}-{self.segment:012d}-{self.offset:012d}"

    def describe(self) -> str:
        where = f"segment {self.segment} at byte {self.offset}"
        if self.torn_tail:
            return (
                f"cut {len(self.data)} bytes of an incomplete record at the end of {where}: "
                "a crash during an append, whose export was never acknowledged"
            )
        return (
            f"skipped {len(self.data)} damaged bytes in {where} (bad header, length or "
            "checksum); intact records after them are kept"
        )


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
        on_damage: Callable[[Damage], None] | None = None,
        cpu: Callable[[str, float], None] | None = None,
    ) -> None:
        """Open (or create) the log; ``on_damage`` sees every damaged range before it is cut,
        ``cpu`` is told the thread CPU time of each fsync round (stage ``wal_sync``)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = DirectoryLock(self.directory, WalBusy)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.id = self._log_id()
        self._key = self._secret()
        self.damage: list[Damage] = []
        self._lock = threading.Lock()  # appends and sealing
        self._synced = threading.Condition()
        self._sealed: list[int] = []
        self._sizes: dict[int, int] = {}
        self._signals: dict[int, set[Signal]] = {}
        existing = self._existing()
        for seq in existing:
            self._sizes[seq] = self._repair(seq, newest=seq == existing[-1], on_damage=on_damage)
            self._sealed.append(seq)
        self._active = self._open(max(self._last_segment(), *existing, 0) + 1)
        self._durable = Ticket(self._active.seq, 0)
        self._dirty = threading.Event()
        self._closed = False
        self._epoch = 0
        self._cuts: dict[int, Ticket] = {}  # epoch -> what was durable when it ended
        self._sync_fault: str | None = None
        self._write_fault: str | None = None
        self._cpu = cpu
        self._syncer = threading.Thread(
            target=self._sync_loop, name="exptrace-wal-sync", daemon=True
        )
        self._syncer.start()

    # -- identity and recovery ------------------------------------------------------------

    def _log_id(self) -> str:
        """A random id for this directory, written once (deduplication tokens start with it)."""
        path = self.directory / "id"
        if not path.exists() or not path.read_text().strip():
            _write_atomically(path, secrets.token_hex(8))
        return path.read_text().strip()

    def _secret(self) -> bytes:
        """The random key of this directory's record tags, written once; clients never see it."""
        path = self.directory / "key"
        if not path.exists() or len(path.read_bytes()) != KEY_BYTES * 2:
            _write_atomically(path, secrets.token_hex(KEY_BYTES))
            path.chmod(0o600)  # readable by the receiver's user only
        return bytes.fromhex(path.read_text())

    def _markers(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.glob(f"{LAST_SEGMENT}*"):
            suffix = path.name[len(LAST_SEGMENT) :]
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def _last_segment(self) -> int:
        markers = self._markers()
        return markers[-1][0] if markers else 0

    def _remember(self, seq: int) -> None:
        """Record ``seq`` as the highest segment number ever used (durably)."""
        markers = self._markers()
        target = self.directory / f"{LAST_SEGMENT}{seq}"
        if markers:
            os.rename(markers[-1][1], target)
            for _n, stale in markers[:-1]:
                stale.unlink(missing_ok=True)
        else:
            target.touch()
        _fsync_dir(self.directory)

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

    def _repair(self, seq: int, *, newest: bool, on_damage: Callable[[Damage], None] | None) -> int:
        """Report damaged ranges, cut a damaged tail; returns the segment's size after it."""
        path = self._path(seq)
        data = path.read_bytes()
        records, damaged = _scan(data, self._key)
        self._signals[seq] = {record.signal for record in records}
        for start, end in damaged:
            tail = end == len(data)
            torn = newest and tail and _incomplete(data, start)
            damage = Damage(self.id, seq, start, data[start:end], torn)
            self.damage.append(damage)
            if on_damage is not None:
                on_damage(damage)  # before the bytes are cut
        if damaged and damaged[-1][1] == len(data):
            valid = damaged[-1][0]
            with open(path, "r+b") as f:
                f.truncate(valid)
                f.flush()
                os.fsync(f.fileno())
            return valid
        return len(data)

    def _open(self, seq: int) -> _Segment:
        # The number is on disk before the segment exists: never reused, even after a crash.
        self._remember(seq)
        segment = _Segment(self._path(seq), seq)
        self._sizes[seq] = segment.size
        _fsync_dir(self.directory)
        return segment

    # -- writing ----------------------------------------------------------------------------

    def append(self, signal: Signal, payload: bytes) -> Ticket:
        """Write one record; raises :class:`WalFull` past the size bound."""
        header = HEADER.pack(MAGIC, signal, len(payload), _tag(self._key, signal, payload))
        size = len(header) + len(payload)
        with self._lock:
            if self._closed:
                raise WalError("the write-ahead log is closed")
            if self.total_bytes + size > self.max_bytes:
                raise WalFull(
                    f"the write-ahead log holds {self.total_bytes} of {self.max_bytes} bytes"
                )
            if self._active.size and self._active.size + size > self.segment_bytes:
                try:
                    self._seal_active()
                except OSError as error:
                    raise WalError(f"cannot start a new log segment: {error}") from error
            try:
                written = os.write(self._active.fd, header + payload)
            except OSError as error:
                self._truncate_active()
                self._write_fault = f"cannot write the write-ahead log: {error}"
                raise WalError(self._write_fault) from error
            if written != size:
                self._truncate_active()
                self._write_fault = "short write to the write-ahead log (disk full?)"
                raise WalError(self._write_fault)
            self._write_fault = None
            self._active.size += size
            self._sizes[self._active.seq] = self._active.size
            self._signals.setdefault(self._active.seq, set()).add(signal)
            ticket = Ticket(self._active.seq, self._active.size, self._epoch)
        self._dirty.set()
        return ticket

    def _truncate_active(self) -> None:
        """Undo a partial write so the active segment ends on a record boundary."""
        os.ftruncate(self._active.fd, self._active.size)

    def wait(self, ticket: Ticket, timeout: float = 30.0) -> None:
        """Block until ``ticket`` is on disk; raises WalError on timeout or when a failed sync
        cut its record from the log (it will never be stored)."""
        deadline = time.monotonic() + timeout
        with self._synced:
            while not self._is_durable(ticket):
                if ticket.epoch != self._epoch:
                    raise WalError(f"the write-ahead log cannot sync: {self._sync_fault}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WalPending("timed out waiting for the write-ahead log to sync", ticket)
                self._synced.wait(remaining)

    def voided(self, ticket: Ticket) -> bool:
        """Whether a failed sync cut ``ticket``'s record from the log (it is never stored)."""
        with self._synced:
            return ticket.epoch != self._epoch and not self._is_durable(ticket)

    def append_durable(self, signal: Signal, payload: bytes, timeout: float = 30.0) -> Ticket:
        """Append and wait until the record is durable: the acknowledgement point."""
        ticket = self.append(signal, payload)
        self.wait(ticket, timeout)
        return ticket

    def _is_durable(self, ticket: Ticket) -> bool:
        durable = self._cuts.get(ticket.epoch, self._durable)
        return ticket.segment < durable.segment or (
            ticket.segment == durable.segment and ticket.end <= durable.end
        )

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait(FAULT_RETRY_SECONDS if self.fault else None)
            self._dirty.clear()
            started = time.thread_time()
            try:
                if not self._sync_once():
                    return
            finally:
                if self._cpu is not None:
                    self._cpu("wal_sync", time.thread_time() - started)

    def _sync_once(self) -> bool:
        """One fsync of the active segment and what it made durable; False once closed."""
        if self._write_fault and self._room() >= self.segment_bytes:
            self._write_fault = None
        with self._lock:
            if self._closed:
                return False
            segment, end, fd = self._active.seq, self._active.size, self._active.fd
            fd = os.dup(fd)
        try:
            os.fsync(fd)
        except OSError as error:
            # Said before the lock is taken: a seal in between must not sync (and so
            # acknowledge) what the kernel may already have dropped.
            self._sync_fault = f"fsync failed: {error}"
            self._void_unsynced()
            return True
        finally:
            os.close(fd)
        with self._synced:
            if (segment, end) > (self._durable.segment, self._durable.end):
                self._durable = Ticket(segment, end)
            self._sync_fault = None
            self._synced.notify_all()
        return True

    def _void_unsynced(self) -> None:
        """Cut every record appended since the last good sync; their appenders are refused.

        Their bytes may or may not be on disk: kept, a refused export would be stored and
        stored again after its client's retry. Nothing later can be acknowledged until a
        sync works, and that sync also makes the cut durable.
        """
        with self._lock, self._synced:
            durable = self._durable
            if durable.segment == self._active.seq and self._active.size > durable.end:
                try:
                    os.ftruncate(self._active.fd, durable.end)
                except OSError:
                    return  # the records stay: their appenders wait for a sync that works
                self._active.size = durable.end
                self._sizes[self._active.seq] = durable.end
            self._cuts[self._epoch] = durable
            self._epoch += 1
            self._synced.notify_all()

    def _room(self) -> int:
        """Bytes free for this process on the log's filesystem."""
        stats = os.statvfs(self.directory)
        return stats.f_bavail * stats.f_frsize

    @property
    def fault(self) -> str | None:
        """Why the log cannot take data now (a failing fsync or write), or None."""
        return self._sync_fault or self._write_fault

    # -- sealing and reading -----------------------------------------------------------------

    def _seal_active(self) -> None:
        """Close the active segment (fsynced) and start the next; caller holds ``_lock``.
        Raises WalError while a failed sync is unresolved, OSError if this one fails."""
        if self._sync_fault is not None:
            raise WalError(f"cannot seal the log while it cannot sync: {self._sync_fault}")
        old = self._active
        os.fsync(old.fd)
        self._active = self._open(old.seq + 1)  # may fail (disk full): ``old`` stays active
        os.close(old.fd)
        self._sealed.append(old.seq)
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
            self._seal_or_raise()
            return True

    def seal(self) -> int:
        """Seal the active segment if it holds records; returns the number of the segment now
        active: every record appended before this call is in a sealed segment below it."""
        with self._lock:
            if not self._closed and self._active.size:
                self._seal_or_raise()
            return self._active.seq

    def _seal_or_raise(self) -> None:
        """:meth:`_seal_active`, a failure raised as WalError; caller holds ``_lock``."""
        try:
            self._seal_active()
        except OSError as error:
            raise WalError(f"cannot seal the log segment: {error}") from error

    def sealed(self) -> list[int]:
        """Sealed segments waiting to be flushed, oldest first."""
        with self._lock:
            return list(self._sealed)

    def read(self, seq: int) -> list[Record]:
        """The intact records of a sealed segment (damaged ranges skipped)."""
        return _scan(self._path(seq).read_bytes(), self._key)[0]

    def remove(self, seq: int) -> None:
        """Drop a flushed segment: its rows are committed to the store."""
        with self._lock:
            self._sealed.remove(seq)
            self._sizes.pop(seq, None)
            self._signals.pop(seq, None)
        self._path(seq).unlink(missing_ok=True)
        _fsync_dir(self.directory)
        self._write_fault = None  # space freed: the next append may well fit

    def holds_elsewhere(self, signal: Signal, seq: int) -> bool:
        """Whether any segment but ``seq`` (the active one included) holds ``signal`` records."""
        with self._lock:
            return any(signal in signals for s, signals in self._signals.items() if s != seq)

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    @property
    def segments(self) -> int:
        return len(self._sizes)

    def modified(self, seq: int) -> float:
        """When segment ``seq`` was last written (Unix time)."""
        return self._path(seq).stat().st_mtime

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
            with contextlib.suppress(OSError):  # nothing unsynced was acknowledged
                os.fsync(self._active.fd)
            os.close(self._active.fd)
            if not self._active.size:
                self._active.path.unlink(missing_ok=True)
        self._dirty.set()
        self._syncer.join(5)
        self._lock_file.release()


def _tag(key: bytes, signal: int, payload: bytes) -> int:
    """32 bits of a BLAKE2b MAC of signal and payload: unforgeable without ``key``."""
    mac = hashlib.blake2b(bytes((signal,)), key=key, digest_size=4)
    mac.update(payload)
    return int.from_bytes(mac.digest(), "little")


def _crc(signal: int, payload: bytes) -> int:
    """The check of a record of the previous form (``EXW1``)."""
    return zlib.crc32(payload, zlib.crc32(bytes((signal,))))


def _record_at(data: bytes, offset: int, key: bytes, *, legacy: bool) -> Record | None:
    """The intact record starting at ``offset``, or None; ``legacy`` also accepts ``EXW1``."""
    if offset + HEADER.size > len(data):
        return None
    magic, signal, length, check = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    end = start + length
    if end > len(data) or signal not in Signal._value2member_map_:
        return None
    payload = data[start:end]
    if magic == MAGIC:
        valid = _tag(key, signal, payload) == check
    else:
        valid = legacy and magic == LEGACY_MAGIC and _crc(signal, payload) == check
    return Record(Signal(signal), payload, offset) if valid else None


def _scan(data: bytes, key: bytes) -> tuple[list[Record], list[tuple[int, int]]]:
    """Intact records of ``data`` and the damaged ``(start, end)`` ranges between them.

    Records of the previous form count only while they stand in sequence from the start.
    After damage, reading resumes at the next offset holding a new-form header whose keyed
    tag matches: a client's payload cannot forge one.
    """
    records: list[Record] = []
    damaged: list[tuple[int, int]] = []
    offset, size = 0, len(data)
    while offset < size:
        record = _record_at(data, offset, key, legacy=not damaged)
        if record is not None:
            records.append(record)
            offset += HEADER.size + len(record.payload)
            continue
        start = offset
        offset = data.find(MAGIC, offset + 1)
        while offset != -1 and _record_at(data, offset, key, legacy=False) is None:
            offset = data.find(MAGIC, offset + 1)
        if offset == -1:
            offset = size
        damaged.append((start, offset))
    return records, damaged


def _incomplete(data: bytes, offset: int) -> bool:
    """The bytes from ``offset`` are the beginning of a record cut short by the end of data."""
    if offset + HEADER.size > len(data):
        head = data[offset : offset + len(MAGIC)]
        return any(head == magic[: len(head)] for magic in (MAGIC, LEGACY_MAGIC))
    magic, _signal, length, _check = HEADER.unpack_from(data, offset)
    return magic in (MAGIC, LEGACY_MAGIC) and offset + HEADER.size + length > len(data)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".tmp")
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
