"""The receiver process: log, store, flusher, OTLP/gRPC and OTLP/HTTP, wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import grpc
import uvicorn
from starlette.routing import BaseRoute

from exptrace.ingest import defaults
from exptrace.ingest.door import (
    FailureLimit,
    Intake,
    Offload,
    bearer_check,
    build_app,
    deadline_protocol,
    health_routes,
    otlp_routes,
    start_grpc_server,
)
from exptrace.ingest.errors import CannotListen, StoreError
from exptrace.ingest.log import Damage, DeadLetters, Flusher, RecentExports, WriteAheadLog
from exptrace.ingest.ports import refuse_if_taken
from exptrace.ingest.schema import STORE_MIN_FREE_BYTES, Schema, ensure_query_views, ensure_schema
from exptrace.ingest.selfmetrics import SelfMetrics
from exptrace.ingest.settings import IngestSettings, split_endpoint
from exptrace.ingest.stats import IngestStats
from exptrace.ingest.store import LinkedStore, Store, StoreProbe
from exptrace.propagation import invalid

log = logging.getLogger(__name__)

STALL_REPORTED_AFTER = 5.0
"""Seconds the flusher may retry a refused batch before ``/readyz`` reports it."""
CANNOT_COMPILE_REGEXP = 427
"""The engine's error code for a regular expression its RE2 cannot compile."""


def check_masks(store: Store, settings: IngestSettings) -> None:
    """Stop with a SettingsError naming the variable unless the engine's own regular
    expression library (RE2) compiles every redaction mask. Python's ``re`` is no stand-in:
    it takes patterns RE2 refuses (look-arounds, back-references: the views could then not
    be created) and refuses some RE2 takes (``\\p{Lu}``)."""
    for pattern in settings.redact_masks:
        try:
            store.query("SELECT match('', {pattern:String})", {"pattern": pattern})
        except StoreError as error:
            if error.code != CANNOT_COMPILE_REGEXP:
                raise
            problem = f"holds {pattern!r}, which is not a valid RE2 pattern"
            raise invalid(settings, "redact_masks", problem) from None


class Task(Protocol):
    """Work that runs beside the receiver (the query layer's watcher): started once the
    server listens, stopped before the store closes."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


class IngestServer:
    """Owns the data directory; ``start()`` serves, ``stop()`` drains and releases it.

    ``routes`` adds HTTP routes (the query API) to the OTLP/HTTP server, so one process owns
    the embedded store and serves both. ``query_views`` are the query layer's ``(name,
    select)`` views and ``query_tables`` its ``(name, CREATE TABLE text)`` tables, created
    when the store is set up (see :meth:`add_query_parts`); known before the store opens, a
    view's metadata damaged by a full disk is removed first.
    """

    def __init__(
        self,
        settings: IngestSettings,
        routes: Sequence[BaseRoute] = (),
        query_views: Sequence[tuple[str, str]] = (),
        query_tables: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.stats = IngestStats()
        self.dead_letters = DeadLetters(data_dir / "dead-letter", self.stats)
        self.wal = WriteAheadLog(
            data_dir / "wal",
            max_bytes=settings.wal_max_bytes,
            segment_bytes=settings.wal_segment_bytes,
            on_damage=self._keep_damage,
            cpu=self.stats.cpu,
        )
        self.schema = Schema(
            retention_days=settings.retention_days,
            redaction=settings.redaction(),
            known_only=settings.known_experiments_only,
            query_views=tuple(query_views),
            query_tables=tuple(query_tables),
        )
        try:
            self.recent = RecentExports(self.wal, settings.dedup_window, self.stats)
            self.store = LinkedStore(
                settings.store_url,
                self._set_up,
                max_delay=settings.store_retry_max_delay,
                views=[name for name, _ in self.schema.query_views],
            )
        except BaseException:
            self.wal.close()
            raise
        self.stats.gauges.update(
            {
                "exptrace_ingest_flush_stalled_seconds": (
                    "How long the store has refused some logged batch (0: the log drains).",
                    lambda: self.flusher.stalled_seconds(),
                ),
                "exptrace_ingest_log_bytes": (
                    "Bytes in the write-ahead log.",
                    lambda: self.wal.total_bytes,
                ),
                "exptrace_ingest_log_segments": (
                    "Segments in the write-ahead log.",
                    lambda: self.wal.segments,
                ),
                "exptrace_ingest_log_capacity_bytes": (
                    "Size bound of the write-ahead log.",
                    lambda: self.wal.max_bytes,
                ),
            }
        )
        self.intake = Intake(
            self.wal,
            self.stats,
            self.recent,
            retry_after=settings.retry_after,
            retention_days=settings.retention_days,
            max_future_seconds=settings.max_future_seconds,
            max_nested_value_bytes=settings.max_nested_value_bytes,
        )
        self.flusher = Flusher(
            self.wal,
            self.store,
            self.stats,
            self.dead_letters,
            flush_interval=settings.flush_interval,
            max_retry_delay=settings.store_retry_max_delay,
            before_trim=self.recent.persist,
        )
        self.self_metrics = (
            SelfMetrics(self.intake, settings.self_metrics_interval, settings.service_name)
            if settings.self_metrics_interval > 0
            else None
        )
        authorized = bearer_check(settings.token)
        self.failures = FailureLimit()
        """Wrong tokens per client address, at every door (the query API's too)."""
        self.offload = Offload()
        self.app = build_app(
            [
                *otlp_routes(
                    self.intake, authorized, self.failures, self.offload, settings.max_request_bytes
                ),
                *health_routes(self.stats, self.problems, authorized, self.failures),
                *routes,
            ]
        )
        self.store_probe = StoreProbe(lambda: self.store.query("SELECT 1"))
        self._grpc: grpc.Server | None = None
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._tasks: list[Task] = []

    def _set_up(self, store: Store) -> None:
        """Check the masks, bring the schema up to date with the query's tables and views."""
        check_masks(store, self.settings)
        ensure_schema(
            store,
            self.schema,
            self.settings.cluster,
            change_settings=self.settings.change_store_settings,
        )

    def add_query_parts(
        self,
        query_views: Sequence[tuple[str, str]] = (),
        query_tables: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create the query layer's tables handed over when missing and its ``(name, select)``
        views (or replace them in place, when changed); with the store not reached yet, they
        are created once it is."""
        with self.store.lock:
            self.schema = replace(
                self.schema, query_views=tuple(query_views), query_tables=tuple(query_tables)
            )
            if self.store.ready:
                ensure_query_views(self.store, self.schema, self.settings.cluster)

    def add_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve more HTTP routes (the query API) next to OTLP/HTTP; call before start()."""
        self.app.router.routes.extend(routes)

    def add_task(self, task: Task) -> None:
        """Run ``task`` beside the receiver; call before start()."""
        self._tasks.append(task)

    def _keep_damage(self, damage: Damage) -> None:
        """Copy damaged log bytes to the dead-letter directory and say what happened."""
        kind = "torn_tail" if damage.torn_tail else "log_damage"
        reason = {"segment": damage.segment, "offset": damage.offset, "reason": damage.describe()}
        self.dead_letters.keep(f"{damage.name}-{kind}", kind, damage.data, reason)
        report = log.warning if damage.torn_tail else log.error
        report(
            "write-ahead log: %s; the bytes are in %s",
            damage.describe(),
            self.dead_letters.directory / f"{damage.name}-{kind}.bin",
        )

    def problems(self) -> list[str]:
        """Why the receiver cannot take and store data now (empty when ready)."""
        found = []
        if self.wal.fault is not None:
            found.append(f"the write-ahead log cannot take data: {self.wal.fault}")
        if self.wal.total_bytes > 0.9 * self.wal.max_bytes:
            found.append("write-ahead log over 90% full")
        if self.flusher.stalled_seconds() >= STALL_REPORTED_AFTER:
            found.append(self.flusher.stall())
        unreachable = self.store_probe.problem()
        if unreachable is not None:
            found.append(unreachable)
        room = self.store.free_bytes()
        if room is not None and room < STORE_MIN_FREE_BYTES:
            found.append(f"the disk under the store is full ({room} bytes free)")
        return found

    def start(self) -> IngestServer:
        settings = self.settings
        exposed = [
            e
            for e in (settings.grpc_endpoint, settings.http_endpoint)
            if split_endpoint(e)[0] not in defaults.LOOPBACK_HOSTS
        ]
        if exposed and not settings.token:
            log.warning(
                "listening on %s without a token: anyone who can reach it can send telemetry "
                "and change the experiment registry; set EXPTRACE_TOKEN",
                ", ".join(exposed),
            )
        refuse_if_taken(settings.grpc_endpoint, "OTLP/gRPC")
        refuse_if_taken(settings.http_endpoint, "OTLP/HTTP")
        self.flusher.start()
        self.store_probe.start()
        if self.self_metrics is not None:
            self.self_metrics.start()
        tls = None
        if settings.tls_cert_file and settings.tls_key_file:
            tls = (
                Path(settings.tls_cert_file).read_bytes(),
                Path(settings.tls_key_file).read_bytes(),
            )
        self._grpc, self.grpc_port = start_grpc_server(
            self.intake,
            settings.grpc_endpoint,
            token=settings.token,
            failures=self.failures,
            max_request_bytes=settings.max_request_bytes,
            tls=tls,
        )
        host, port = split_endpoint(settings.http_endpoint)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=settings.tls_cert_file,
            ssl_keyfile=settings.tls_key_file,
            # Connections and in-flight requests; slow senders are cut by the deadlines.
            limit_concurrency=4096,
            http=deadline_protocol(
                settings.http_header_timeout,
                settings.http_body_timeout,
                lambda phase: self.stats.refused_request(None, f"{phase}_timeout"),
            ),
        )
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(
            target=self._http.run, name="exptrace-http", daemon=True
        )
        self._http_thread.start()
        deadline = time.monotonic() + 30
        while not self._http.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise CannotListen(f"cannot listen on {settings.http_endpoint} for OTLP/HTTP")
            time.sleep(0.01)
        self.http_port = self._http.servers[0].sockets[0].getsockname()[1]
        log.info("OTLP/gRPC on port %s, OTLP/HTTP on port %s", self.grpc_port, self.http_port)
        for task in self._tasks:
            task.start()
        return self

    def stop(self, drain: bool = True) -> None:
        """Stop taking requests, flush what was acknowledged (with ``drain``), release all."""
        for task in self._tasks:
            task.stop()
        if self._grpc is not None:
            self._grpc.stop(grace=5).wait(10)
        if self._http is not None:
            self._http.should_exit = True
            if self._http_thread is not None:
                self._http_thread.join(10)
        self.offload.close()
        if self.self_metrics is not None:
            self.self_metrics.stop()
        self.store_probe.stop()
        self.flusher.stop(drain=drain)
        self.wal.close()
        self.store.close()
