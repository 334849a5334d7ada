"""The OpenTelemetry Collector ClickHouse exporter's tables and inserts, written down as facts.

The DDL is the exporter's own (``exporter/clickhouseexporter/internal/sqltemplates`` at the
release ``exptrace.ingest.schema.ddl.UPSTREAM_RELEASE``, bloom-filter index variant, MergeTree,
30-day TTL), rendered for database ``{db}``: its columns come, in order, from the data file
``upstream_columns.tsv``, its skip indexes from ``upstream_indexes.tsv``, engine and keys
from ``upstream_tables.tsv``: the exporter's DDL as data, never retyped here. Tests create
these tables as a Collector would and check exptrace's tables against them, and insert rows
with the exporter's column lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exptrace.ingest.store.sqltext import literal

COLUMNS_FILE = Path(__file__).with_name("upstream_columns.tsv")
INDEXES_FILE = Path(__file__).with_name("upstream_indexes.tsv")
TABLES_FILE = Path(__file__).with_name("upstream_tables.tsv")


def _rows(path: Path, header: list[str]) -> list[list[str]]:
    """The rows of a tab-separated data file under its ``header`` (``#`` lines are notes)."""
    rows = [
        line.split("\t")
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rows[0] == header, (path, rows[0])
    return rows[1:]


@dataclass(frozen=True)
class Column:
    """One column of an exporter table, as its DDL declares it."""

    table: str
    name: str
    type: str
    default: str
    codec: str
    comment: str

    def definition(self) -> str:
        parts = [f"`{self.name}` {self.type}", self.default]
        parts.append(f"COMMENT {literal(self.comment)}" if self.comment else "")
        parts.append(f"CODEC({self.codec})" if self.codec else "")
        return " ".join(part for part in parts if part)


def columns() -> dict[str, list[Column]]:
    """The exporter's columns of each table, in order, from :data:`COLUMNS_FILE`."""
    found: dict[str, list[Column]] = {}
    for row in _rows(COLUMNS_FILE, ["table", "name", "type", "default", "codec", "comment"]):
        column = Column(*row)
        found.setdefault(column.table, []).append(column)
    return found


def _create(table: str) -> str:
    """The exporter's CREATE TABLE for ``table``: its columns (:data:`COLUMNS_FILE`), skip
    indexes (:data:`INDEXES_FILE`), then engine, keys, TTL and settings (:data:`TABLES_FILE`)."""
    parts = [column.definition() for column in columns()[table]]
    parts += [
        f"INDEX {name} {expr} TYPE {kind} GRANULARITY {granularity}"
        for owner, name, expr, kind, granularity in _rows(
            INDEXES_FILE, ["table", "name", "expr", "type", "granularity"]
        )
        if owner == table
    ]
    header = ["table", "engine", "partition_by", "primary_key", "order_by", "ttl", "settings"]
    (row,) = [row for row in _rows(TABLES_FILE, header) if row[0] == table]
    _, engine, partition_by, primary_key, order_by, ttl, settings = row
    tail = [f"ENGINE = {engine}"]
    tail += [f"PARTITION BY {partition_by}"] if partition_by else []
    tail += [f"PRIMARY KEY {primary_key}"] if primary_key else []
    tail += [f"ORDER BY {order_by}", f"TTL {ttl}", f"SETTINGS {settings}"]
    listed = ",\n    ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {{db}}.{table} (\n    {listed}\n) " + "\n".join(tail)


TRACES = _create("otel_traces")
TRACE_ID_TS = _create("otel_traces_trace_id_ts")
TRACE_ID_TS_MV = """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.otel_traces_trace_id_ts_mv
TO {db}.otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) as Start, max(Timestamp) as End
FROM {db}.otel_traces WHERE TraceId != '' GROUP BY TraceId"""

LOGS = _create("otel_logs")
METRICS = {
    kind: _create(f"otel_metrics_{kind}")
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary")
}

ALL = [TRACES, TRACE_ID_TS, TRACE_ID_TS_MV, LOGS, *METRICS.values()]
"""Every statement the exporter runs with ``create_schema: true``, dependencies first."""

TRACES_INSERT = """INSERT INTO {db}.otel_traces (
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId,
    Links.SpanId, Links.TraceState, Links.Attributes
) VALUES"""
"""The exporter's traces insert (``traces_insert.sql``): its column list, values appended."""

LOGS_INSERT = """INSERT INTO {db}.otel_logs (
    Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body,
    ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion,
    ScopeAttributes, LogAttributes, EventName
) VALUES"""
