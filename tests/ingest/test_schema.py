"""One schema module: the single-node form runs, the cluster form parses, literals round-trip."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exptrace.ingest.errors import StoreError
from exptrace.ingest.schema.ddl import SCHEMA_VERSION, Schema
from exptrace.ingest.store.sqltext import identifier, literal


@pytest.fixture(scope="module")
def store(chdb_url):
    from exptrace.ingest.store.backends import open_store

    s = open_store(chdb_url)
    yield s
    s.close()


def test_cluster_form_is_generated_from_the_same_definitions_and_parses(store):
    schema = Schema(retention_days=7)
    single, cluster = schema.statements(), schema.statements(cluster="prod")
    assert len(cluster) > len(single)
    assert all("ON CLUSTER prod" in s for s in cluster)
    assert any(
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/default/otel_traces'" in s for s in cluster
    )
    assert any(
        "ENGINE = Distributed(prod, default, otel_traces_local, rand())" in s for s in cluster
    )
    assert any("TO otel_traces_local AS" in s for s in cluster)
    for statement in cluster:
        formatted = store.query("SELECT formatQuery({q:String})", {"q": statement}).scalar()
        assert formatted.startswith("CREATE")


def test_schema_version_is_recorded(store):
    from exptrace.ingest.schema.migrate import ensure_schema

    ensure_schema(store, Schema(), change_settings=True)  # creates it, or finds it in place
    assert ensure_schema(store, Schema()) == SCHEMA_VERSION
    assert store.query("SELECT max(version) FROM exptrace_schema").scalar() == SCHEMA_VERSION


def test_a_newer_store_is_refused(store):
    from exptrace.ingest.schema.migrate import ensure_schema

    store.command(
        "INSERT INTO exptrace_schema (version, description) VALUES (99, 'from the future')"
    )
    try:
        with pytest.raises(StoreError, match="newer than this exptrace"):
            ensure_schema(store, Schema())
    finally:
        store.command("DELETE FROM exptrace_schema WHERE version = 99")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_literals_round_trip_through_the_engine(store, text):
    assert store.query(f"SELECT {literal(text)}").scalar() == text


def test_identifiers_refuse_anything_but_plain_names():
    assert identifier("otel_traces") == "otel_traces"
    for bad in ("x; DROP TABLE t", "a b", "", "1abc", "t`"):
        with pytest.raises(ValueError):
            identifier(bad)


INJECTIONS = [
    "'; DROP TABLE otel_traces; --",
    "x' OR '1'='1",
    "\\'; SELECT 1; --",
    "a\nb\tc\\d",
    "{q:String}",
    "`otel_traces`",
]


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=60), st.sampled_from(INJECTIONS)))
def test_bound_parameters_come_back_unchanged(store, text):
    assert store.query("SELECT {v:String}", {"v": text}).scalar() == text
    assert store.query("SELECT {v:Array(String)}", {"v": [text, "x"]}).scalar() == [text, "x"]


def test_changing_retention_alters_existing_tables(store):
    from exptrace.ingest.schema.migrate import ensure_schema

    def ttl() -> str:
        return store.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'otel_logs'"
        ).scalar()

    try:
        ensure_schema(store, Schema(retention_days=7), change_settings=True)
        assert "toIntervalDay(7)" in ttl()
        ensure_schema(store, Schema(retention_days=0), change_settings=True)
        assert "TTL" not in ttl()
    finally:
        ensure_schema(store, Schema(), change_settings=True)
    assert "toIntervalDay(30)" in ttl()


def test_an_older_store_gets_the_exporters_comments_and_keeps_its_column_order(store):
    """A version-4 store: no comments on the logs columns, ``Flags`` after the exemplars in
    the metric tables. The upgrade adds the exporter's comments (a comment someone set stays),
    moves no column and leaves the rows as they were."""
    from exptrace.ingest.schema.ddl import COLUMN_COMMENTS
    from exptrace.ingest.schema.migrate import ensure_schema

    def comments() -> dict[str, str]:
        rows = store.query(
            "SELECT name, comment FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'otel_logs'"
        ).rows
        return {name: comment for name, comment in rows if name in COLUMN_COMMENTS["otel_logs"]}

    def gauge() -> tuple[list, list]:
        columns = store.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'otel_metrics_gauge' ORDER BY position"
        ).rows
        return columns, store.query("SELECT ServiceName, Value, Flags FROM otel_metrics_gauge").rows

    flags = "Flags UInt32 CODEC(ZSTD(1))"
    ensure_schema(store, Schema(), change_settings=True)
    try:
        for column in COLUMN_COMMENTS["otel_logs"]:
            store.command(f"ALTER TABLE otel_logs COMMENT COLUMN {column} ''")
        store.command("ALTER TABLE otel_logs COMMENT COLUMN Body 'set by the team'")
        store.command(
            f"ALTER TABLE otel_metrics_gauge MODIFY COLUMN {flags} AFTER `Exemplars.TraceId`"
        )
        store.command(
            "INSERT INTO otel_metrics_gauge (ServiceName, MetricName, TimeUnix, Value, Flags) "
            "VALUES ('old', 'queue.depth', now64(9), 1.5, 1)"
        )
        before = gauge()
        settings = store.query(
            "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
        ).scalar()
        store.command(
            "INSERT INTO exptrace_schema (version, description, settings) "
            "VALUES (4, 'before the comments', {s:String})",
            {"s": settings},
        )

        assert ensure_schema(store, Schema()) == 4
        assert comments() == {**COLUMN_COMMENTS["otel_logs"], "Body": "set by the team"}
        assert gauge() == before
        assert before[1] == [["old", 1.5, 1]]
    finally:
        store.command(
            f"ALTER TABLE otel_logs COMMENT COLUMN Body {literal(COLUMN_COMMENTS['otel_logs']['Body'])}"
        )
        store.command(f"ALTER TABLE otel_metrics_gauge MODIFY COLUMN {flags} AFTER Value")
        store.command("TRUNCATE TABLE otel_metrics_gauge")


def test_a_version_8_store_gets_the_minute_counts_built_for_the_facts_it_holds(store):
    """Before version 9 the request facts had no ``minute_counts`` projection: the upgrade
    adds it and builds it for the facts already stored, so the late-data check reads it."""
    from exptrace.ingest.schema.migrate import ensure_schema

    counts = (
        "SELECT toStartOfMinute(Start) AS minute, count() AS facts FROM exptrace_requests "
        "WHERE Experiment != '' AND minute >= '2026-01-01 00:00:00' GROUP BY minute ORDER BY minute"
    )
    ensure_schema(store, Schema(retention_days=0), change_settings=True)
    try:
        store.command("ALTER TABLE exptrace_requests DROP PROJECTION minute_counts")
        store.command(
            "INSERT INTO exptrace_requests (Experiment, Trace, Start) SELECT 'old-exp', number, "
            "toDateTime64('2026-01-01 00:00:00', 9) + toIntervalSecond(number * 20) "
            "FROM numbers(7)"
        )
        settings = store.query(
            "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
        ).scalar()
        store.command(
            "INSERT INTO exptrace_schema (version, description, settings) "
            "VALUES (8, 'before the minute counts', {s:String})",
            {"s": settings},
        )
        assert "minute_counts" not in str(store.query("EXPLAIN " + counts).rows)

        assert ensure_schema(store, Schema(retention_days=0)) == 8
        assert "ReadFromMergeTree (minute_counts)" in str(store.query("EXPLAIN " + counts).rows)
        assert [int(n) for _, n in store.query(counts).rows] == [3, 3, 1]
    finally:
        store.command("TRUNCATE TABLE exptrace_requests")
        ensure_schema(store, Schema(), change_settings=True)
