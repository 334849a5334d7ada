"""Assignments on log records: stdlib ``logging`` and OpenTelemetry logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from exptrace.propagation.context import AttributeMemo, experiment_attributes
from exptrace.propagation.grammar import PREFIX as BAGGAGE_PREFIX

_PREFIX_LEN = len(BAGGAGE_PREFIX)
NO_ASSIGNMENT = "-"


def annotate_record(record: logging.LogRecord) -> None:
    """Add ``record.experiments`` (``id=variant,...`` or ``-``) and ``exp.<id>`` attributes.

    ``%(experiments)s`` then works in any format string, and OpenTelemetry's
    ``LoggingHandler`` turns the ``exp.<id>`` attributes into log attributes.
    """
    attributes = experiment_attributes()
    record.__dict__.update(attributes)
    record.experiments = (
        ",".join(f"{key[_PREFIX_LEN:]}={value}" for key, value in attributes.items())
        or NO_ASSIGNMENT
    )


class ExperimentLogFilter(logging.Filter):
    """A logging filter (for a handler or a logger) that annotates records; it drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        annotate_record(record)
        return True


def install_log_record_factory() -> Callable[[], None]:
    """Annotate every stdlib log record at creation; returns a function that undoes it."""
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        annotate_record(record)
        return record

    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    return uninstall


class ExperimentLogRecordProcessor(LogRecordProcessor):
    """Adds the current assignments to OpenTelemetry log records at emit time.

    Batch processors drop the context before export, so this must run at emit. Attributes
    already on the record (set by :func:`annotate_record` on the stdlib path) are left alone.
    """

    def __init__(self) -> None:
        self._attributes = AttributeMemo()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        attributes = self._attributes(record.context)
        if not attributes:
            return
        existing = record.attributes
        missing = {k: v for k, v in attributes.items() if existing is None or k not in existing}
        if not missing:
            return
        if existing is None:
            record.attributes = missing
        else:
            existing.update(missing)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
