"""Schema 7: a version-6 store gets the watcher's findings, rounds and alert deliveries when `exptrace up` runs."""

from exptrace.ingest.migrate import ensure_schema
from exptrace.ingest.schema import Schema
from exptrace.ingest.store import open_store

TABLES = ("exptrace_watch_findings", "exptrace_watch_rounds", "exptrace_alert_deliveries")


def test_a_version_6_store_gets_the_watchers_tables(chdb_url):
    store = open_store(chdb_url)
    try:
        ensure_schema(store, Schema(), change_settings=True)
        for table in TABLES:
            store.command(f"DROP TABLE {table}")
        settings = store.query(
            "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
        ).scalar()
        store.command(
            "INSERT INTO exptrace_schema (version, description, settings) "
            "VALUES (6, 'before the watcher', {s:String})",
            {"s": settings},
        )
        assert ensure_schema(store, Schema()) == 6
        present = store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name IN {names:Array(String)} ORDER BY name",
            {"names": list(TABLES)},
        ).rows
        assert present == [[name] for name in sorted(TABLES)]
    finally:
        store.close()
