"""A store keeps the settings it was set up with: reading never runs DDL, a receiver with
other rules fails loudly, and changing rules on purpose changes views in place."""

from __future__ import annotations

import threading
import time

import pytest
from google.protobuf.internal.encoder import _VarintBytes

from exptrace.ingest.errors import SettingsConflict
from exptrace.ingest.log._protoschema import TRACES, otlp_schema
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.ingest.schema.redaction import Redaction
from tests.ingest.isolated import run
from tests.ingest.otlp import span, traces

STRICT = Schema(retention_days=90, redaction=Redaction(hash_keys=("user.id",)))


def test_reading_never_rewrites_a_store(tmp_path):
    """A store created with 90-day retention and a hash rule keeps both when a reader opens
    it (what ``exptrace lag`` does with no server answering): no DDL, writes refused."""
    store = tmp_path / "store"
    created = run(
        store,
        """
        from exptrace.ingest.schema.migrate import ensure_schema
        from exptrace.ingest.schema.redaction import Redaction
        from exptrace.ingest.schema.ddl import Schema
        ensure_schema(s, Schema(retention_days=90, redaction=Redaction(hash_keys=("user.id",))))
        print(json.dumps(s.query(
            "SELECT name, metadata_modification_time, create_table_query FROM system.tables "
            "WHERE database = currentDatabase() ORDER BY name").rows))
        """,
    )
    read = run(
        store,
        f"""
        from exptrace.ingest.errors import StoreError
        from exptrace.ingest.schema.migrate import open_readonly
        reader = open_readonly({f"chdb://{store}"!r})
        tables = reader.query(
            "SELECT name, metadata_modification_time, create_table_query FROM system.tables "
            "WHERE database = currentDatabase() ORDER BY name").rows
        try:
            reader.command("DROP TABLE otel_traces")
            refused = False
        except StoreError:
            refused = True
        print(json.dumps({{"tables": tables, "refused": refused}}))
        """,
        open_store=False,
    )
    assert read == {"tables": created, "refused": True}
    assert any("toIntervalDay(90)" in t[2] for t in created if t[0] == "otel_traces")


def test_reading_a_directory_without_a_store_says_so(tmp_path):
    message = run(
        tmp_path / "empty",
        f"""
        from exptrace.ingest.errors import SchemaError
        from exptrace.ingest.schema.migrate import open_readonly
        try:
            open_readonly({f"chdb://{tmp_path / 'empty'}"!r})
        except SchemaError as error:
            print(json.dumps(str(error)))
        """,
        open_store=False,
    )
    assert "no exptrace store" in message and "exptrace up" in message


@pytest.fixture
def store(chdb_url):
    from exptrace.ingest.store.backends import open_store

    s = open_store(chdb_url)
    ensure_schema(s, Schema(), change_settings=True)
    yield s
    ensure_schema(s, Schema(), change_settings=True)
    s.close()


def test_a_receiver_with_other_rules_fails_loudly_and_changes_nothing(store):
    ensure_schema(store, STRICT, change_settings=True)
    with pytest.raises(SettingsConflict) as caught:
        ensure_schema(store, Schema())
    assert set(caught.value.differences) == {"retention_days", "redaction"}
    assert "EXPTRACE_CHANGE_STORE_SETTINGS" in str(caught.value)
    ttl = store.query(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'otel_traces'"
    ).scalar()
    assert "toIntervalDay(90)" in ttl
    view = store.query("SELECT create_table_query FROM system.tables WHERE name = 'otel_traces_mv'")
    assert "user.id" in view.scalar()  # the hash rule is still in force


def _insert_one_span(store, name: str) -> None:
    """One span of service rules-change through the landing table, as the flusher inserts."""
    message = traces("rules-change", [span(name, {})]).SerializeToString()
    store.insert_protobuf(
        "otel_traces_landing",
        _VarintBytes(len(message)) + message,
        otlp_schema(),
        TRACES,
        {"input_format_protobuf_oneof_presence": 1},
    )


def test_changing_rules_changes_views_in_place_without_losing_inserts(store):
    """Inserts keep arriving while the rules change four times; every one of them is stored, the
    views are the same objects (altered, not dropped and re-created) and the new rule
    applies afterwards."""
    store.command("TRUNCATE TABLE otel_traces")
    uuids = store.query(
        "SELECT name, uuid FROM system.tables WHERE database = currentDatabase() "
        "AND name LIKE 'otel_%_mv' ORDER BY name"
    ).rows
    inserted, errors, stop = [], [], threading.Event()

    def insert() -> None:
        while not stop.is_set():
            try:
                _insert_one_span(store, "order for frank@example.com")
                inserted.append(1)
            except Exception as error:
                errors.append(error)

    worker = threading.Thread(target=insert)
    worker.start()
    try:
        time.sleep(0.5)
        for _ in range(2):  # the second round repeats rows the first one recorded
            ensure_schema(store, Schema(redaction=Redaction(masks=())), change_settings=True)
            ensure_schema(store, Schema(), change_settings=True)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(60)
    assert errors == []
    assert len(inserted) >= 2
    stored = store.query("SELECT count() FROM otel_traces WHERE ServiceName = 'rules-change'")
    assert stored.scalar() == len(inserted)
    assert (
        store.query(
            "SELECT name, uuid FROM system.tables WHERE database = currentDatabase() "
            "AND name LIKE 'otel_%_mv' ORDER BY name"
        ).rows
        == uuids
    )
    _insert_one_span(store, "order for frank@example.com")
    last = store.query(
        "SELECT SpanName FROM otel_traces WHERE ServiceName = 'rules-change' "
        "ORDER BY Timestamp DESC LIMIT 1"
    )
    assert last.scalar() == "order for <redacted>"
    # Back at the settings it had before: a receiver with those starts without a conflict.
    ensure_schema(store, Schema())
