"""An older store gets the tables a later schema added when `exptrace up` runs: schema 6 the
freeze and decision logs, schema 7 the watcher's findings, rounds and alert deliveries (the
query layer's tables, handed to ingest's schema as `exptrace up` hands them)."""

import pytest

from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.ingest.store.backends import open_store
from exptrace.query import schema_parts


@pytest.mark.parametrize(
    ("version", "tables"),
    [
        (5, ("exptrace_freezes", "exptrace_decisions")),
        (6, ("exptrace_watch_findings", "exptrace_watch_rounds", "exptrace_alert_deliveries")),
    ],
)
def test_an_older_store_gets_the_tables_a_later_schema_added(chdb_url, version, tables):
    store = open_store(chdb_url)
    try:
        ensure_schema(store, Schema(**schema_parts()), change_settings=True)
        for table in tables:
            store.command(f"DROP TABLE {table}")
        settings = store.query(
            "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
        ).scalar()
        store.command(
            "INSERT INTO exptrace_schema (version, description, settings) "
            "VALUES ({v:UInt32}, 'before these tables', {s:String})",
            {"v": version, "s": settings},
        )
        assert ensure_schema(store, Schema(**schema_parts())) == version
        present = store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name IN {names:Array(String)} ORDER BY name",
            {"names": list(tables)},
        ).rows
        assert present == [[name] for name in sorted(tables)]
    finally:
        store.close()
