"""exptrace's tables are the Collector exporter's tables (``UPSTREAM_RELEASE``) plus ours, and
Grafana's ClickHouse data source in OpenTelemetry mode reads them."""

from __future__ import annotations

import time

import pytest

from exptrace.ingest.schema.ddl import OUR_COLUMNS
from tests.ingest import collector
from tests.ingest.helpers import query
from tests.ingest.otlp import logs, post, span, traces

TABLES = (
    "otel_traces",
    "otel_traces_trace_id_ts",
    "otel_logs",
    *(f"otel_metrics_{kind}" for kind in collector.METRICS),
)


_KEYS = (
    "SELECT sorting_key, primary_key, partition_key FROM system.tables "
    "WHERE database = {d:String} AND name = {t:String}"
)
_INDEXES = (
    "SELECT name, expr, type_full, granularity FROM system.data_skipping_indices "
    "WHERE database = {d:String} AND table = {t:String} ORDER BY name"
)


@pytest.fixture(scope="module")
def described(chdb_url):
    """Columns, keys and indexes of the exporter's tables, created in a database of their own
    as a Collector would, and of ours: {(database, table): (columns, keys, indexes)}."""
    from exptrace.ingest.schema.ddl import Schema
    from exptrace.ingest.schema.migrate import ensure_schema
    from exptrace.ingest.store.backends import open_store

    store = open_store(chdb_url)
    try:
        ensure_schema(store, Schema(), change_settings=True)
        store.command("CREATE DATABASE IF NOT EXISTS collector_facts")
        for statement in collector.ALL:
            store.command(statement.format(db="collector_facts"))
        found = {}
        for database in ("default", "collector_facts"):
            for table in TABLES:
                params = {"d": database, "t": table}
                columns = [
                    tuple(r)
                    for r in store.query(
                        "SELECT name, type, compression_codec, default_kind, default_expression, "
                        "comment FROM system.columns WHERE database = {d:String} "
                        "AND table = {t:String} ORDER BY position",
                        params,
                    ).rows
                ]
                found[database, table] = (
                    columns,
                    store.query(_KEYS, params).rows,
                    store.query(_INDEXES, params).rows,
                )
        store.command("DROP DATABASE collector_facts")
    finally:
        store.close()
    return found


@pytest.mark.parametrize("table", TABLES)
def test_columns_in_order_types_codecs_comments_and_keys_match_the_exporter(described, table):
    """Our table starts with the exporter's columns in the exporter's order, each with the
    same type, codec, default and comment (``collector.py`` creates them from the data file
    ``upstream_columns.tsv``); after them come only our own columns; sort key, primary key and
    partition key are the exporter's."""
    theirs, their_keys, _ = described["collector_facts", table]
    ours, our_keys, _ = described["default", table]
    assert ours[: len(theirs)] == theirs
    added = {column[0].split(".")[0] for column in ours[len(theirs) :]}
    assert added <= set(OUR_COLUMNS), added
    assert our_keys == their_keys


@pytest.mark.parametrize("table", TABLES)
def test_every_exporter_skip_index_is_ours(described, table):
    theirs = described["collector_facts", table][2]
    ours = described["default", table][2]
    assert theirs or table == "otel_traces_trace_id_ts"  # the lookup table has none upstream
    assert [index for index in theirs if index not in ours] == []


def _grafana(sql: str) -> str:
    """Expand the data source's time macros as Grafana does (milliseconds since the epoch)."""
    now_ms = int(time.time() * 1000)
    return sql.replace("$__fromTime", f"fromUnixTimestamp64Milli({now_ms - 3_600_000})").replace(
        "$__toTime", f"fromUnixTimestamp64Milli({now_ms + 60_000})"
    )


def test_grafana_opentelemetry_mode_traces_trace_lookup_and_logs(receiver):
    """The SQL shapes the Grafana ClickHouse plugin (v4, OpenTelemetry mode) issues for the
    trace search, a trace-id lookup through ``otel_traces_trace_id_ts`` and the logs view
    return what was sent."""
    root = span("GET /checkout", {"http.route": "/checkout"})
    post(receiver, "traces", traces("grafana-svc", [root]))
    post(receiver, "logs", logs("grafana-svc", ["paid"]))
    trace_id = root.trace_id.hex()
    search = query(
        receiver,
        _grafana(
            'SELECT "TraceId" as traceID, "ServiceName" as serviceName, "SpanName" as '
            'operationName, "Timestamp" as startTime, multiply("Duration", 0.000001) as duration '
            'FROM "default"."otel_traces" WHERE ( Timestamp >= $__fromTime AND Timestamp <= '
            "$__toTime ) AND ( ServiceName = 'grafana-svc' ) AND ( ParentSpanId = '' ) AND "
            "( Duration > 0 ) ORDER BY Timestamp DESC, Duration DESC LIMIT 1000"
        ),
    )
    assert [(r[0], r[1], r[2]) for r in search] == [(trace_id, "grafana-svc", "GET /checkout")]
    lookup = query(
        receiver,
        f"WITH '{trace_id}' as trace_id, (SELECT min(Start) FROM \"default\"."
        '"otel_traces_trace_id_ts" WHERE TraceId = trace_id) as trace_start, (SELECT max(End) + 1 '
        'FROM "default"."otel_traces_trace_id_ts" WHERE TraceId = trace_id) as trace_end '
        'SELECT "TraceId" as traceID, "SpanId" as spanID, "ParentSpanId" as parentSpanID, '
        '"ServiceName" as serviceName, "SpanName" as operationName, '
        'multiply(toUnixTimestamp64Nano("Timestamp"), 0.000001) as startTime, '
        'multiply("Duration", 0.000001) as duration, '
        "arrayMap(key -> map('key', key, 'value',\"SpanAttributes\"[key]), "
        'mapKeys("SpanAttributes")) as tags, '
        "arrayMap(key -> map('key', key, 'value',\"ResourceAttributes\"[key]), "
        'mapKeys("ResourceAttributes")) as serviceTags, '
        "if(\"StatusCode\" IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) as statusCode, "
        "arrayMap((name, timestamp, attributes) -> tuple(name, "
        "toString(toUnixTimestamp64Milli(timestamp)), arrayMap( key -> map('key', key, 'value', "
        "attributes[key]), mapKeys(attributes)))::Tuple(name String, timestamp String, "
        'fields Array(Map(String, String))), "Events".Name, "Events".Timestamp, '
        '"Events".Attributes) AS logs, '
        "arrayMap((traceID, spanID, attributes) -> tuple(traceID, spanID, arrayMap(key -> "
        "map('key', key, 'value', attributes[key]), mapKeys(attributes)))::Tuple(traceID String, "
        'spanID String, tags Array(Map(String, String))), "Links".TraceId, "Links".SpanId, '
        '"Links".Attributes) AS references, "SpanKind" as kind, "StatusMessage" as '
        'statusMessage, "ScopeName" as instrumentationLibraryName, "ScopeVersion" as '
        'instrumentationLibraryVersion, "TraceState" as traceState '
        'FROM "default"."otel_traces" WHERE traceID = trace_id AND "Timestamp" >= trace_start '
        'AND "Timestamp" <= trace_end LIMIT 1000',
        flush=False,
    )
    assert len(lookup) == 1 and lookup[0][1] == root.span_id.hex()
    assert {"key": "http.route", "value": "/checkout"} in lookup[0][7]
    found_logs = query(
        receiver,
        _grafana(
            'SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level", '
            'LogAttributes as "labels", TraceId as "traceID" FROM "default"."otel_logs" '
            "WHERE ( timestamp >= $__fromTime AND timestamp <= $__toTime ) "
            "AND ( ServiceName = 'grafana-svc' ) ORDER BY timestamp DESC LIMIT 1000"
        ),
        flush=False,
    )
    assert [r[1] for r in found_logs] == ["paid"]
