"""The receiver's own counters, rendered in the Prometheus text exposition format."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type only: the log imports the counters, not the other way
    from exptrace.ingest.log import Signal


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the counters, taken under the lock."""

    accepted: dict[str, int]
    accepted_items: dict[str, int]
    refused: dict[tuple[str, str], int]
    inserts: dict[str, int]
    inserted_records: dict[str, int]
    dead_letters: dict[str, int]
    duplicates: dict[str, int]
    duplicate_items: dict[str, int]
    store_errors: int
    flushes: int
    flush_seconds: float
    last_lag_seconds: float
    refused_items: dict[tuple[str, str], int]
    cpu_seconds: dict[str, float]


CPU_STAGES = {
    "door_decode": "parsing an export's bytes (upb)",
    "door_screen": "screening its items and re-encoding the kept ones (the canonical bytes)",
    "door_dedup": "the deduplication digest and bookkeeping (and the wait for the fsync)",
    "wal_append": "the log record's MAC and the write to the active segment",
    "wal_sync": "the log's fsyncs (its syncer thread)",
    "door_grpc": "the whole gRPC handler: door_decode, door_screen, door_dedup and wal_append "
    "of gRPC exports, plus the token, the peer and the response",
    "flusher_read": "reading a sealed segment back and checking each record",
    "flusher_encode": "joining records into one length-delimited insert",
    "engine_insert": "the engine's INSERT in the flusher's thread: parsing, views, parts "
    "(and writing the insert's scratch file); merges run on the engine's own threads",
}
"""Where the receiver's thread CPU time goes, by stage (``exptrace_ingest_cpu_seconds_total``)."""


class IngestStats:
    """Thread-safe counters for requests, the log, flushes and dead letters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.accepted: Counter[str] = Counter()
        self.accepted_items: Counter[str] = Counter()
        self.refused: Counter[tuple[str, str]] = Counter()
        self.refused_items_by_reason: Counter[tuple[str, str]] = Counter()
        self.inserts: Counter[str] = Counter()
        self.inserted_records: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.duplicate_items: Counter[str] = Counter()
        self.store_errors = 0
        self.flushes = 0
        self.flush_seconds = 0.0
        self.last_lag_seconds = 0.0
        self.cpu_seconds: Counter[str] = Counter()
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.expositions: list[Callable[[], str]] = []
        """Further metric families in Prometheus text (the watcher's labelled gauges)."""

    def accepted_request(self, signal: Signal, items: int) -> None:
        with self._lock:
            self.accepted[signal.name.lower()] += 1
            self.accepted_items[signal.name.lower()] += items

    def refused_request(self, signal: Signal | None, reason: str) -> None:
        with self._lock:
            self.refused[(signal.name.lower() if signal else "unknown", reason)] += 1

    def refused_items(self, signal: Signal, reasons: Counter[str]) -> None:
        with self._lock:
            for reason, n in reasons.items():
                self.refused_items_by_reason[(signal.name.lower(), reason)] += n

    def inserted(self, signal: Signal, records: int) -> None:
        with self._lock:
            self.inserts[signal.name.lower()] += 1
            self.inserted_records[signal.name.lower()] += records

    def flushed(self, seconds: float, lag: float) -> None:
        with self._lock:
            self.flushes += 1
            self.flush_seconds += seconds
            self.last_lag_seconds = lag

    def cpu(self, stage: str, seconds: float) -> None:
        """Thread CPU time spent in ``stage`` (one of :data:`CPU_STAGES`)."""
        with self._lock:
            self.cpu_seconds[stage] += seconds

    def dead_lettered(self, kind: str) -> None:
        """One letter: an export of ``kind`` (a signal) or damaged log bytes."""
        with self._lock:
            self.dead_letters[kind] += 1

    def duplicate_request(self, signal: Signal, items: int) -> None:
        """An export identical to one already logged: acknowledged, not stored again."""
        with self._lock:
            self.duplicates[signal.name.lower()] += 1
            self.duplicate_items[signal.name.lower()] += items

    def store_error(self) -> None:
        with self._lock:
            self.store_errors += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                dict(self.accepted),
                dict(self.accepted_items),
                dict(self.refused),
                dict(self.inserts),
                dict(self.inserted_records),
                dict(self.dead_letters),
                dict(self.duplicates),
                dict(self.duplicate_items),
                self.store_errors,
                self.flushes,
                self.flush_seconds,
                self.last_lag_seconds,
                dict(self.refused_items_by_reason),
                dict(self.cpu_seconds),
            )

    def prometheus(self) -> str:
        """All counters and gauges in Prometheus text format."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{suffix} {value:g}" for suffix, value in samples)

        def by_signal(counter: dict[str, int]) -> list[tuple[str, float]]:
            return [(f'{{signal="{s}"}}', n) for s, n in sorted(counter.items())]

        snap = self.snapshot()
        family(
            "exptrace_ingest_requests_accepted_total",
            "counter",
            "Export requests acknowledged (durable in the write-ahead log).",
            by_signal(snap.accepted),
        )
        family(
            "exptrace_ingest_items_accepted_total",
            "counter",
            "Spans, log records and metric data points acknowledged.",
            by_signal(snap.accepted_items),
        )
        family(
            "exptrace_ingest_requests_refused_total",
            "counter",
            "Export requests refused, by reason.",
            [(f'{{signal="{s}",reason="{r}"}}', n) for (s, r), n in sorted(snap.refused.items())],
        )
        family(
            "exptrace_ingest_items_refused_total",
            "counter",
            "Spans, log records and data points refused as OTLP partial success, by reason.",
            [
                (f'{{signal="{s}",reason="{r}"}}', n)
                for (s, r), n in sorted(snap.refused_items.items())
            ],
        )
        family(
            "exptrace_ingest_inserts_total",
            "counter",
            "Inserts committed to the store.",
            by_signal(snap.inserts),
        )
        family(
            "exptrace_ingest_insert_requests_total",
            "counter",
            "Export requests carried by committed inserts (per insert: divide by inserts).",
            by_signal(snap.inserted_records),
        )
        family(
            "exptrace_ingest_dead_letters_total",
            "counter",
            "Letters written to the dead-letter directory: exports the store refused (kind is "
            "the signal) and damaged (log_damage) or torn (torn_tail) write-ahead log bytes.",
            [(f'{{kind="{k}"}}', n) for k, n in sorted(snap.dead_letters.items())],
        )
        family(
            "exptrace_ingest_requests_duplicate_total",
            "counter",
            "Exports identical to one logged within the deduplication window: acknowledged, "
            "not stored again (a client retry after a lost acknowledgement).",
            by_signal(snap.duplicates),
        )
        family(
            "exptrace_ingest_items_duplicate_total",
            "counter",
            "Spans, log records and metric data points in those duplicate exports.",
            by_signal(snap.duplicate_items),
        )
        family(
            "exptrace_ingest_store_errors_total",
            "counter",
            "Failed store operations and flusher rounds (retried with backoff).",
            [("", snap.store_errors)],
        )
        family(
            "exptrace_ingest_flush_seconds",
            "summary",
            "Time to move one log segment into the store.",
            [("_sum", snap.flush_seconds), ("_count", snap.flushes)],
        )
        family(
            "exptrace_ingest_lag_seconds",
            "gauge",
            "Age of the oldest unflushed log segment at the last flush.",
            [("", snap.last_lag_seconds)],
        )
        family(
            "exptrace_ingest_cpu_seconds_total",
            "counter",
            "Thread CPU time of the receiver's own work, by stage (time.thread_time; door_grpc "
            "holds the door's and wal_append's share of gRPC exports); the "
            "process's total CPU also holds gRPC's and the engine's own threads (merges).",
            [(f'{{stage="{s}"}}', snap.cpu_seconds.get(s, 0.0)) for s in CPU_STAGES],
        )
        gauges = dict(self.gauges)
        for name, (help_text, read) in sorted(gauges.items()):
            family(name, "gauge", help_text, [("", read())])
        lines.extend(text().rstrip("\n") for text in self.expositions)
        return "\n".join(lines) + "\n"
