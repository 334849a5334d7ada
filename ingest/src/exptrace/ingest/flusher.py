"""Moves sealed log segments into the store in large inserts, then trims the log.

Per segment and signal, records are concatenated as length-delimited messages and inserted
into the landing table in chunks; each chunk carries a deduplication token derived from the
log id, segment and chunk, so a replay after a crash or a retry after a timeout never
duplicates rows. A chunk the store rejects as bad data is split in halves until the bad
record is isolated; that record goes to the dead-letter directory with the reason and the
rest lands. Any other failure (store down, disk full) is retried with backoff; nothing is
removed from the log until it is committed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from exptrace.ingest.protoschema import LOGS, METRICS, TRACES, otlp_schema
from exptrace.ingest.stats import IngestStats
from exptrace.ingest.store import Store, StoreError
from exptrace.ingest.wal import Record, Signal, WriteAheadLog

log = logging.getLogger(__name__)

LANDING = {
    Signal.TRACES: ("otel_traces_landing", TRACES),
    Signal.LOGS: ("otel_logs_landing", LOGS),
    Signal.METRICS: ("otel_metrics_landing", METRICS),
}


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


class Flusher:
    """A background thread that drains the write-ahead log into the store."""

    def __init__(
        self,
        wal: WriteAheadLog,
        store: Store,
        stats: IngestStats,
        *,
        dead_letter_dir: Path,
        flush_interval: float = 1.0,
        max_insert_bytes: int = 64 << 20,
        max_retry_delay: float = 5.0,
    ) -> None:
        self.wal = wal
        self.store = store
        self.stats = stats
        self.dead_letter_dir = dead_letter_dir
        self.flush_interval = flush_interval
        self.max_insert_bytes = max_insert_bytes
        self.max_retry_delay = max_retry_delay
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="exptrace-flusher", daemon=True)
        self._thread.start()

    def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop; with ``drain``, first seal and flush what is in the log (best effort)."""
        if drain and self._thread is not None:
            self.flush_now(timeout)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush_now(self, timeout: float = 30.0) -> bool:
        """Seal the active segment and wait until every sealed segment is flushed."""
        self.wal.seal_if_older(0)
        deadline = time.monotonic() + timeout
        while self.wal.sealed() and time.monotonic() < deadline:
            self._idle.clear()
            self._wake.set()
            self._idle.wait(0.05)
        return not self.wal.sealed()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wal.seal_if_older(self.flush_interval)
            pending = self.wal.sealed()
            for seq in pending:
                if self._stop.is_set():
                    return
                self.flush_segment(seq)
            self._idle.set()
            self._wake.wait(min(self.flush_interval, 0.25) if not pending else 0)
            self._wake.clear()

    def flush_segment(self, seq: int) -> None:
        """Insert one sealed segment (retrying until committed), then trim it from the log."""
        started = time.monotonic()
        records = self.wal.read(seq)
        by_signal: dict[Signal, list[Record]] = {}
        for record in records:
            by_signal.setdefault(record.signal, []).append(record)
        for signal, items in by_signal.items():
            for index, chunk in enumerate(self._chunks(items)):
                token = f"{self.wal.id}:{seq}:{signal.name.lower()}:{index}"
                if not self._insert_with_retry(signal, chunk, token, seq):
                    return  # stopping: the segment stays in the log
        lag = self.wal.oldest_sealed_age()
        self.wal.remove(seq)
        self.stats.flushed(time.monotonic() - started, lag)

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

    def _insert_with_retry(
        self, signal: Signal, records: list[Record], token: str, seq: int
    ) -> bool:
        delay = 0.1
        while True:
            try:
                self._insert_isolating(signal, records, token, seq)
                return True
            except StoreError as error:
                self.stats.store_error()
                log.warning("store insert failed, retrying in %.1fs: %s", delay, str(error)[:300])
            if self._stop.wait(delay):
                return False
            delay = min(delay * 2, self.max_retry_delay)

    def _insert_isolating(
        self, signal: Signal, records: list[Record], token: str, seq: int
    ) -> None:
        table, message = LANDING[signal]
        try:
            self.store.insert_protobuf(
                table,
                length_delimited(records),
                otlp_schema(),
                message,
                {
                    "input_format_protobuf_oneof_presence": 1,
                    "insert_deduplication_token": token,
                    "deduplicate_blocks_in_dependent_materialized_views": 1,
                },
            )
            self.stats.inserted(signal, len(records))
        except StoreError as error:
            if not error.is_data_error:
                raise
            if len(records) == 1:
                self._dead_letter(signal, records[0], token, seq, error)
                return
            half = len(records) // 2
            self._insert_isolating(signal, records[:half], token + "a", seq)
            self._insert_isolating(signal, records[half:], token + "b", seq)

    def _dead_letter(
        self, signal: Signal, record: Record, token: str, seq: int, error: StoreError
    ) -> None:
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        name = token.replace(":", "-")
        (self.dead_letter_dir / f"{name}.pb").write_bytes(record.payload)
        reason = {
            "signal": signal.name.lower(),
            "segment": seq,
            "token": token,
            "error_code": error.code,
            "error": str(error)[:2000],
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload_file": f"{name}.pb",
        }
        (self.dead_letter_dir / f"{name}.json").write_text(json.dumps(reason, indent=2))
        self.stats.dead_lettered(signal)
        log.error("dead-lettered one %s export (%s): %s", signal.name.lower(), name, error.code)
