"""Schema 6: a version-5 store gets the freeze and decision logs when `exptrace up` runs."""

from exptrace.ingest.migrate import ensure_schema
from exptrace.ingest.schema import Schema
from exptrace.ingest.store import open_store

LOGS = ("exptrace_freezes", "exptrace_decisions")


def test_a_version_5_store_gets_the_freeze_and_decision_logs(chdb_url):
    store = open_store(chdb_url)
    try:
        ensure_schema(store, Schema(), change_settings=True)
        for table in LOGS:
            store.command(f"DROP TABLE {table}")
        settings = store.query(
            "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
        ).scalar()
        store.command(
            "INSERT INTO exptrace_schema (version, description, settings) "
            "VALUES (5, 'before the logs', {s:String})",
            {"s": settings},
        )
        assert ensure_schema(store, Schema()) == 5
        present = store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name IN ('exptrace_freezes', 'exptrace_decisions') ORDER BY name"
        ).rows
        assert present == [["exptrace_decisions"], ["exptrace_freezes"]]
    finally:
        store.close()
