"""Real OpenTelemetry SDK telemetry and exporters pointed at a running receiver."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exptrace.propagation import (
    ExperimentLogRecordProcessor,
    ExperimentSpanProcessor,
    with_assignments,
)


def make_spans(service: str, n: int = 3, assignments: dict | None = None, **attributes):
    resource = Resource.create({"service.name": service})
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(ExperimentSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    token = otel_context.attach(with_assignments(assignments or {}))
    try:
        for i in range(n):
            with tracer.start_as_current_span(f"op-{i}", attributes=attributes):
                pass
    finally:
        otel_context.detach(token)
    return exporter.get_finished_spans()


def make_logs(service: str, messages: list[str], assignments: dict | None = None):
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(ExperimentLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"tests.{service}")
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    token = otel_context.attach(with_assignments(assignments or {}))
    try:
        for message in messages:
            logger.warning(message)
    finally:
        otel_context.detach(token)
        logger.removeHandler(handler)
    return exporter.get_finished_logs()


def make_metrics(service: str, assignments: dict | None = None):
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    meter = provider.get_meter("tests")
    attrs = {f"exp.{k}": v for k, v in (assignments or {}).items()}
    meter.create_counter("orders").add(5, attrs)
    meter.create_histogram("latency", unit="s").record(0.25, attrs)
    meter.create_gauge("queue").set(3, attrs)
    return reader.get_metrics_data()


def query(server, sql: str, parameters=None, flush: bool = True):
    if flush:
        drain(server)
    return server.store.query(sql, parameters).rows


QUIET = 120.0
"""Seconds without any progress after which a wait for the log to drain gives up."""


def until_quiet(done, progress, quiet: float = QUIET, what: str = "the log did not drain"):
    """Wait until ``done()``; fail only after ``quiet`` seconds in which ``progress()`` did
    not change. A loaded machine drains more slowly, but it does not fail the wait."""
    seen, since = progress(), time.monotonic()
    while not done():
        now = progress()
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since > quiet:
            raise AssertionError(f"{what}: no progress in {quiet:.0f}s")
        time.sleep(0.05)


def drain(server, quiet: float = QUIET) -> None:
    """Wait until everything acknowledged so far is in the store (in-process receiver)."""

    def progress():
        snap = server.stats.snapshot()
        return snap.flushes, sum(snap.inserts.values()), sum(snap.dead_letters.values())

    until_quiet(lambda: server.flusher.flush_now(5), progress, quiet)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@contextlib.contextmanager
def small_filesystem(parent: Path, size: str) -> Iterator[Path]:
    """A ``size`` tmpfs (``1m``, ``96m``) mounted under ``parent``, for a disk that fills up;
    the test is skipped where mounting is not allowed (it needs root)."""
    mount = parent / f"disk-{size}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
