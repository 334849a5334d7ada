"""Moves sealed log segments into the store in large inserts, then trims the log.

Per segment and signal, records are concatenated as length-delimited messages and inserted
into the landing table in chunks. Each chunk carries a deduplication token made of the log
id, the segment number (never reused in a directory) and the chunk, so a replay after a
crash or a retry after a timeout never duplicates rows, and a new segment never collides
with an old one. A segment is trimmed only after every insert of it returned from a path
that raises when the engine refuses rows.

A batch the store refuses is split in halves when the error says the data is bad (by
error class) or after ``attempts_before_split`` failures whatever the code; a single record
still refused goes to the dead-letter directory, but only on evidence that the store takes
other data: another insert of the same signal landed since the record last failed, or,
when nothing else of that signal is waiting, an empty export of that signal went through the
same table and views. A store that is down therefore never empties the log into dead
letters: the flusher retries with backoff, skips ahead to later segments, and reports the
stall (``stalled_seconds``) on ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from exptrace.ingest.errors import StoreError, WalError
from exptrace.ingest.log._protoschema import LOGS, METRICS, TRACES, otlp_schema
from exptrace.ingest.log.deadletter import DeadLetters
from exptrace.ingest.log.wal import Record, Signal, WriteAheadLog
from exptrace.ingest.stats import IngestStats
from exptrace.ingest.store import Store

log = logging.getLogger(__name__)

LANDING = {
    Signal.TRACES: ("otel_traces_landing", TRACES),
    Signal.LOGS: ("otel_logs_landing", LOGS),
    Signal.METRICS: ("otel_metrics_landing", METRICS),
}
# Tables are partitioned by day. The engine's default (100 partitions per insert block)
# refuses one export spanning 101 days; a batch beyond this bound is split, and a single
# export beyond it is dead-lettered.
MAX_PARTITIONS_PER_INSERT = 1000
INSERT_SETTINGS: dict[str, str | int] = {
    "input_format_protobuf_oneof_presence": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "max_partitions_per_insert_block": MAX_PARTITIONS_PER_INSERT,
}
"""Settings of every insert into a landing table (with its deduplication token)."""
SPLIT_SUFFIX = ".split"
SLOW_INSERT_SECONDS = 10.0
"""An insert that has not returned for this long (a hung store) counts as a stall from its
start, and a stop or drain no longer waits for it: the data stays in the log."""


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(records: list[Record]) -> bytes:
    return b"".join(varint(len(r.payload)) + r.payload for r in records)


@dataclass
class _Failing:
    """A batch the store refused: how often, and what had landed when it last failed."""

    mark: int
    failures: int = 0
    due: float = 0.0
    delay: float = 0.0


@dataclass(frozen=True)
class _Round:
    """What one completed round of the flusher did."""

    number: int = 0
    trimmed: frozenset[int] = frozenset()
    """Segments it moved into the store (or dead letters) and removed from the log."""
    refused: frozenset[int] = frozenset()
    """Segments holding a batch the store refused in this round (retried later)."""
    failed: bool = False
    """It broke off on an unexpected error, in no segment known."""


@dataclass
class _SegmentState:
    landed: set[str] = field(default_factory=set)
    failing: dict[str, _Failing] = field(default_factory=dict)


class Flusher:
    """A background thread that drains the write-ahead log into the store."""

    def __init__(
        self,
        wal: WriteAheadLog,
        store: Store,
        stats: IngestStats,
        dead_letters: DeadLetters,
        *,
        flush_interval: float = 1.0,
        max_insert_bytes: int = 64 << 20,
        max_retry_delay: float = 5.0,
        attempts_before_split: int = 5,
        before_trim: Callable[[int], None] | None = None,
    ) -> None:
        self.wal = wal
        self.store = store
        self.stats = stats
        self.dead_letters = dead_letters
        self.flush_interval = flush_interval
        self.max_insert_bytes = max_insert_bytes
        self.max_retry_delay = max_retry_delay
        self.attempts_before_split = attempts_before_split
        self.before_trim = before_trim
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._rounds = threading.Condition()
        self._last_round = _Round()
        self._landed: dict[Signal, int] = dict.fromkeys(Signal, 0)
        self._segments: dict[int, _SegmentState] = {}
        self._split: dict[int, set[str]] = self._load_splits()
        self._stalled_since: float | None = None
        self._sending_since: float | None = None  # the insert in flight, if any
        self._failed_delay = 0.0  # the backoff after rounds that broke off on an error
        self._refused_now: set[int] = set()  # segments the store refused in the current round
        self.last_error = ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="exptrace-flusher", daemon=True)
        self._thread.start()

    def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop; with ``drain``, first wait for everything acknowledged to be in the store
        (:meth:`flush_now`). What the store did not take stays in the log for the next start,
        and a warning says how much."""
        drained = not drain or self._thread is None or self.flush_now(timeout)
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive() and not self._hung():
            if time.monotonic() > deadline:
                break
            self._thread.join(0.05)
        if not drained:
            why = self.stall() or f"the store did not take them within {timeout:g}s"
            log.warning(
                "stopping with %d log segment(s) (%d bytes) not in the store; they are stored "
                "at the next start (%s)",
                len(self.wal.sealed()),
                self.wal.total_bytes,
                why,
            )

    def flush_now(self, timeout: float = 30.0) -> bool:
        """Wait for everything acknowledged before this call to be in the store (True).

        Seals the active segment and waits for the flusher to trim the segments up to it.
        Exports arriving meanwhile go to later segments and are not waited for: a steady
        inflow never keeps the log empty, and must not keep this from returning. Returns
        False at ``timeout``, or as soon as a whole round since the call trimmed none of
        those segments while the store refused one of them (or the round failed), while an
        insert has hung for :data:`SLOW_INSERT_SECONDS`, or at once when the log cannot be
        sealed (a failing sync): that data stays in the log for later rounds (or the next
        start).
        """
        try:
            bound = self.wal.seal()
        except WalError:
            return False  # the log cannot sync now: what it holds stays for later
        waiting = {seq for seq in self.wal.sealed() if seq < bound}
        deadline = time.monotonic() + timeout
        with self._rounds:
            first = self._last_round.number + 2  # a round that started after the seal has ended
        while waiting.intersection(self.wal.sealed()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._hung():
                return False
            with self._rounds:
                last = self._last_round
                refused = last.failed or bool(last.refused & waiting)
                if last.number >= first and refused and not last.trimmed & waiting:
                    return False
                self._wake.set()
                self._rounds.wait(min(remaining, 0.05))
        return True

    def stalled_seconds(self) -> float:
        """How long the store has refused some batch without the log draining, or has not
        answered an insert for at least :data:`SLOW_INSERT_SECONDS` (0: neither)."""
        now = time.monotonic()
        since = self._stalled_since
        if self._hung():
            sending = self._sending_since or now
            since = sending if since is None else min(since, sending)
        return 0.0 if since is None else now - since

    def stall(self) -> str:
        """What keeps the log from draining, in words ('' when nothing does)."""
        stalled = self.stalled_seconds()
        if self._hung():
            return f"the store has not answered an insert for {stalled:.0f}s"
        if stalled > 0:
            return f"the store has refused logged data for {stalled:.0f}s: {self.last_error}"
        return ""

    def _hung(self) -> bool:
        """An insert has been in flight for :data:`SLOW_INSERT_SECONDS` or more."""
        sending = self._sending_since
        return sending is not None and time.monotonic() - sending >= SLOW_INSERT_SECONDS

    # -- rounds -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            stuck = failed = False
            trimmed: set[int] = set()
            self._refused_now = set()
            try:
                self.wal.seal_if_older(self.flush_interval)
                for seq in self.wal.sealed():
                    if self._stop.is_set():
                        return
                    if self.flush_segment(seq):
                        trimmed.add(seq)
                    else:
                        stuck = True
            except Exception as error:  # a bug, an unreadable file, a full disk: back off
                self._round_failed(error)
                stuck = failed = True
            self._report(stuck)
            if not failed:
                self._failed_delay = 0.0
            with self._rounds:
                self._last_round = _Round(
                    self._last_round.number + 1,
                    frozenset(trimmed),
                    frozenset(self._refused_now),
                    failed,
                )
                self._rounds.notify_all()
            progress = bool(trimmed)
            self._wake.wait(self._next_wait(stuck, progress))
            self._wake.clear()

    def _round_failed(self, error: Exception) -> None:
        """Count a failed round; say so once per distinct error, with its traceback."""
        self.stats.store_error()
        message = str(error)[:300]
        if message != self.last_error or self._stalled_since is None:
            log.exception("the flusher failed (retrying with backoff): %s", message)
        self.last_error = message
        self._failed_delay = min(max(self._failed_delay * 2, 0.1), self.max_retry_delay)

    def _report(self, stuck: bool) -> None:
        """Track the stall; one line when it begins and one when it ends, not per retry."""
        if stuck and self._stalled_since is None:
            self._stalled_since = time.monotonic()
            log.warning(
                "the store does not take logged data (%s); retrying with backoff, exports are "
                "still acknowledged into the write-ahead log",
                self.last_error,
            )
        elif not stuck and self._stalled_since is not None:
            log.warning(
                "the store takes logged data again after %.0fs",
                time.monotonic() - self._stalled_since,
            )
            self._stalled_since = None

    def _next_wait(self, stuck: bool, progress: bool) -> float:
        """No wait after progress; after a failed round, its backoff; otherwise until the next
        retry or the next seal is due."""
        if progress and not stuck:
            return 0
        if self._failed_delay:
            return self._failed_delay
        idle = min(self.flush_interval, 0.25)
        if not stuck:
            return idle
        dues = [f.due for state in self._segments.values() for f in state.failing.values()]
        return max(0.01, min(min(dues, default=float("inf")) - time.monotonic(), idle))

    def flush_segment(self, seq: int) -> bool:
        """Insert what is due of one sealed segment; trims it and returns True once it is all
        in the store (or dead-lettered)."""
        started = time.monotonic()
        state = self._segments.setdefault(seq, _SegmentState())
        if state.failing and started < min(f.due for f in state.failing.values()):
            return False  # nothing due yet: not even read (an outage must not cost a core)
        reading = time.thread_time()
        by_signal: dict[Signal, list[Record]] = {}
        for record in self.wal.read(seq):
            by_signal.setdefault(record.signal, []).append(record)
        self.stats.cpu("flusher_read", time.thread_time() - reading)
        done = True
        for signal, items in by_signal.items():
            for index, chunk in enumerate(self._chunks(items)):
                token = f"{self.wal.id}:{seq}:{signal.name.lower()}:{index}"
                if not self._insert(state, signal, chunk, token, seq):
                    done = False
        if not done:
            return False
        lag = self.wal.oldest_sealed_age()
        if self.before_trim is not None:
            self.before_trim(seq)
        self.wal.remove(seq)
        self._segments.pop(seq, None)
        if self._split.pop(seq, None) is not None:
            self._split_path(seq).unlink(missing_ok=True)
        self.stats.flushed(time.monotonic() - started, lag)
        return True

    def _chunks(self, records: list[Record]) -> list[list[Record]]:
        chunks: list[list[Record]] = [[]]
        size = 0
        for record in records:
            if chunks[-1] and size + len(record.payload) > self.max_insert_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(record)
            size += len(record.payload)
        return chunks

    # -- one batch ----------------------------------------------------------------------

    def _insert(
        self,
        state: _SegmentState,
        signal: Signal,
        records: list[Record],
        token: str,
        seq: int,
        inherited: int | None = None,
    ) -> bool:
        """Try ``records`` (or, once split, their halves); True when all are settled.

        ``inherited`` is what had landed when the parent batch last failed (None for a whole
        chunk of a segment).
        """
        if token in state.landed:
            return True
        failing = state.failing.get(token)
        if token in self._split.get(seq, ()):
            mark = failing.mark if failing else self._landed[signal]
            half = len(records) // 2
            first = self._insert(state, signal, records[:half], token + "a", seq, mark)
            second = self._insert(state, signal, records[half:], token + "b", seq, mark)
            return first and second
        if failing is not None and time.monotonic() < failing.due:
            return False
        try:
            self._send(signal, records, token)
        except StoreError as error:
            return self._refused(state, signal, records, token, seq, inherited, error)
        self._landed[signal] += 1
        state.landed.add(token)
        state.failing.pop(token, None)
        self.stats.inserted(signal, len(records))
        return True

    def _refused(
        self,
        state: _SegmentState,
        signal: Signal,
        records: list[Record],
        token: str,
        seq: int,
        inherited: int | None,
        error: StoreError,
    ) -> bool:
        """Split, dead-letter or back off a refused batch; True when it is settled."""
        self.stats.store_error()
        self.last_error = str(error)[:300]
        landed = self._landed[signal]
        failing = state.failing.setdefault(
            token, _Failing(mark=landed if inherited is None else inherited)
        )
        others_landed = landed > failing.mark  # the store took other data meanwhile
        failing.mark = landed
        failing.failures += 1
        # Past the bound a whole chunk is split once whatever the code; below it, only
        # evidence splits further, so a store that is down is not asked record by record.
        bounded = inherited is None and failing.failures >= self.attempts_before_split
        incurable = error.is_data_error or others_landed or bounded
        if incurable and len(records) > 1:
            failing.due = float("inf")  # from now on its halves are tried instead
            self._mark_split(seq, token)
            return self._insert(state, signal, records, token, seq, inherited)
        if incurable and (
            others_landed or (not self.wal.holds_elsewhere(signal, seq) and self._probe(signal))
        ):
            self._dead_letter(signal, records[0], token, seq, error)
            state.landed.add(token)
            state.failing.pop(token, None)
            return True
        self._refused_now.add(seq)
        failing.delay = min(max(failing.delay * 2, 0.1), self.max_retry_delay)
        failing.due = time.monotonic() + failing.delay
        return False  # said once per stall (_report), not at every retry

    def _send(self, signal: Signal, records: list[Record], token: str) -> None:
        table, message = LANDING[signal]
        encoding = time.thread_time()
        data = length_delimited(records)
        inserting = time.thread_time()
        self.stats.cpu("flusher_encode", inserting - encoding)
        self._sending_since = time.monotonic()
        try:
            self.store.insert_protobuf(
                table,
                data,
                otlp_schema(),
                message,
                {**INSERT_SETTINGS, "insert_deduplication_token": token},
            )
        finally:
            self._sending_since = None
            self.stats.cpu("engine_insert", time.thread_time() - inserting)

    def _probe(self, signal: Signal) -> bool:
        """Whether the store takes an empty export of ``signal`` (no rows) right now."""
        try:
            self._send(signal, [Record(signal, b"")], f"{self.wal.id}:probe:{time.time_ns()}")
        except StoreError:
            return False
        return True

    def _dead_letter(
        self, signal: Signal, record: Record, token: str, seq: int, error: StoreError
    ) -> None:
        name = f"{self.wal.id}-{seq:012d}-{record.offset:012d}"
        reason = {
            "signal": signal.name.lower(),
            "segment": seq,
            "offset": record.offset,
            "token": token,
            "error_code": error.code,
            "error": str(error)[:2000],
        }
        if self.dead_letters.keep(name, signal.name.lower(), record.payload, reason):
            log.error(
                "dead-lettered one %s export (%s, code %s): %s",
                signal.name.lower(),
                name,
                error.code,
                str(error)[:300],
            )

    # -- split decisions survive a restart ---------------------------------------------------

    def _split_path(self, seq: int) -> Path:
        return self.wal.directory / f"seg-{seq:012d}{SPLIT_SUFFIX}"

    def _load_splits(self) -> dict[int, set[str]]:
        """Batches split before a restart stay split: their halves may already be stored
        under their own tokens, which the whole batch's token would not deduplicate."""
        live = set(self.wal.sealed())
        out: dict[int, set[str]] = {}
        for path in self.wal.directory.glob(f"seg-*{SPLIT_SUFFIX}"):
            seq = int(path.name[4 : -len(SPLIT_SUFFIX)])
            if seq in live:
                out[seq] = set(path.read_text().split())
            else:
                path.unlink(missing_ok=True)
        return out

    def _mark_split(self, seq: int, token: str) -> None:
        tokens = self._split.setdefault(seq, set())
        tokens.add(token)
        path = self._split_path(seq)
        partial = path.with_suffix(".tmp")
        try:
            with open(partial, "w") as f:
                f.write("\n".join(sorted(tokens)))
                f.flush()
                os.fsync(f.fileno())
            partial.replace(path)
        except OSError as error:  # a full disk must not stop the log from draining
            log.warning("cannot keep the split of segment %d across a restart: %s", seq, error)
