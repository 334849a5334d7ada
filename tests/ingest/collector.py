"""The OpenTelemetry Collector ClickHouse exporter's tables and inserts, written down as facts.

The DDL is the exporter's own (``exporter/clickhouseexporter/internal/sqltemplates`` at the
release ``exptrace.ingest.schema.ddl.UPSTREAM_RELEASE``, bloom-filter index variant, MergeTree,
30-day TTL), rendered for database ``{db}``: its columns come, in order, from the data file
``upstream_columns.tsv``; indexes, engine and keys are written here. Tests create these tables as a Collector would
and check exptrace's tables against them, and insert rows with the exporter's column lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exptrace.ingest.store.sqltext import literal

COLUMNS_FILE = Path(__file__).with_name("upstream_columns.tsv")


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
    rows = [
        line.split("\t")
        for line in COLUMNS_FILE.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    header, *body = rows
    assert header == ["table", "name", "type", "default", "codec", "comment"], header
    found: dict[str, list[Column]] = {}
    for row in body:
        column = Column(*row)
        found.setdefault(column.table, []).append(column)
    return found


def _create(table: str, indexes: str, tail: str) -> str:
    """The exporter's CREATE TABLE for ``table``: its columns and ``indexes``, then ``tail``
    (engine, keys, TTL, settings)."""
    parts = [column.definition() for column in columns()[table]]
    parts += [line.strip().rstrip(",") for line in indexes.strip().splitlines()]
    listed = ",\n    ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {{db}}.{table} (\n    {listed}\n) {tail}"


TRACES = _create(
    "otel_traces",
    """
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8""",
    """ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
)

TRACE_ID_TS = _create(
    "otel_traces_trace_id_ts",
    "",
    """ENGINE = AggregatingMergeTree()
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
TTL toDateTime(Start) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
)

TRACE_ID_TS_MV = """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.otel_traces_trace_id_ts_mv
TO {db}.otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) as Start, max(Timestamp) as End
FROM {db}.otel_traces WHERE TraceId != '' GROUP BY TraceId"""

LOGS = _create(
    "otel_logs",
    """
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8""",
    """ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
)

_METRIC_INDEXES = """
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1"""
_METRIC_TAIL = """ENGINE = MergeTree()
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
TTL toDateTime(TimeUnix) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""
METRICS = {
    kind: _create(f"otel_metrics_{kind}", _METRIC_INDEXES, _METRIC_TAIL)
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
