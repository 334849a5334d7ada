"""Create, adopt and migrate a store's schema; record the settings it was created with.

``exptrace up`` calls :func:`ensure_schema`. On an empty database it creates everything; on a
database where the OpenTelemetry Collector's exporter already writes it adopts the tables in
place (adds our columns and missing indexes, never drops or rewrites the Collector's data);
on an older exptrace store it migrates forward. The settings a store was created with
(retention, redaction rules, allow-list, cluster) are recorded in ``exptrace_schema``: a
receiver whose settings differ refuses to start unless told to change them on purpose, so two
receivers can never keep undoing each other's rules. Views change in place (``ALTER TABLE ...
MODIFY QUERY``, ``CREATE OR REPLACE VIEW``), never by a drop and re-create that would lose
the rows inserted in between.

Readers call :func:`open_readonly`, which runs no DDL at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from exptrace.ingest.errors import SchemaError, SettingsConflict
from exptrace.ingest.schema.ddl import SCHEMA_VERSION, Schema, Table
from exptrace.ingest.store import ReadOnlyStore, Store, open_store

log = logging.getLogger(__name__)

STORE_MIN_FREE_BYTES = 16 << 20
"""Room the store's disk must have for exptrace to write view definitions there (the views'
text is tens of kB; the margin leaves the engine's own writes room)."""


def recorded(store: Store) -> tuple[int, dict[str, Any] | None]:
    """The store's schema version (0: none) and recorded settings (None: not recorded)."""
    exists = store.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'exptrace_schema'"
    ).scalar()
    if not exists:
        return 0, None
    has_settings = store.query(
        "SELECT count() FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'exptrace_schema' AND name = 'settings'"
    ).scalar()
    column = "settings" if has_settings else "''"
    rows = store.query(
        f"SELECT version, {column} FROM exptrace_schema "  # noqa: S608 (a fixed column name)
        "ORDER BY applied_at DESC, version DESC LIMIT 1"
    ).rows
    if not rows:
        return 0, None
    version, settings = int(rows[0][0]), rows[0][1]
    return version, (json.loads(settings) if settings else None)


def ensure_schema(
    store: Store, schema: Schema, cluster: str | None = None, *, change_settings: bool = False
) -> int:
    """Bring ``store`` to :data:`SCHEMA_VERSION` with ``schema``'s settings; returns the
    version it was at (0: new or a Collector's database).

    Runs no DDL when the store is current and set up the same way, beyond what the query
    layer handed over and the store lacks (:func:`ensure_query_views`, at every call). A newer
    store is refused; other recorded settings raise :class:`SettingsConflict` unless
    ``change_settings``.
    """
    found, stored = recorded(store)
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"the store's schema is version {found}, newer than this exptrace ({SCHEMA_VERSION}): "
            "upgrade exptrace before pointing it at this store"
        )
    wanted = schema.settings(cluster)
    if stored is not None and stored != wanted and not change_settings:
        differences = {
            key: (stored.get(key), value)
            for key, value in wanted.items()
            if stored.get(key) != value
        }
        raise SettingsConflict(differences)
    if found == SCHEMA_VERSION and stored == wanted:
        ensure_query_views(store, schema, cluster)
        return found
    existing = _existing_tables(store)
    for statement in schema.table_statements(cluster):
        store.command(statement)
    for table in schema.tables():
        if table.name in existing or found:
            _reconcile(store, schema, table, cluster)
    for version in range(max(found, 1) + 1, SCHEMA_VERSION + 1):
        for statement in schema.migrations().get(version, []):
            store.command(statement)
    retention_changed = (
        stored is not None and stored.get("retention_days") != wanted["retention_days"]
    )
    if retention_changed:
        for statement in schema.retention_statements(cluster):
            store.command(statement)
    for statement in schema.function_statements(cluster):
        store.command(statement)
    ensure_query_views(store, schema, cluster)
    for statement in schema.view_statements(_existing_tables(store), cluster):
        store.command(statement)
    # applied_at is explicit: the table deduplicates identical inserts, and going back to
    # earlier settings repeats an earlier row.
    store.command(
        "INSERT INTO exptrace_schema (version, applied_at, description, settings) "
        "VALUES ({v:UInt32}, {at:DateTime64(3)}, {d:String}, {s:String})",
        {
            "v": SCHEMA_VERSION,
            "at": dt.datetime.now(dt.UTC),
            "d": "adopted" if existing and not found else f"from version {found}",
            "s": json.dumps(wanted, sort_keys=True),
        },
    )
    return found


def open_readonly(url: str) -> Store:
    """Open an existing store for reading: checks its schema, runs no DDL, refuses writes.

    Raises :class:`SchemaError` when the store has no exptrace schema, or an older or newer one.
    """
    return _OwnedReadOnlyStore(open_existing(url))


def open_existing(url: str) -> Store:
    """Open a store exptrace already created, as it is: its schema checked, no DDL run.

    Raises :class:`SchemaError` when the store has no exptrace schema, or an older or newer
    one.
    """
    store = open_store(url)
    try:
        found, _ = recorded(store)
        if found == 0:
            raise SchemaError(
                f"no exptrace store at {url}: start `exptrace up` on it first to create one"
            )
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"the store's schema is version {found}, newer than this exptrace "
                f"({SCHEMA_VERSION}): upgrade exptrace to read it"
            )
        if found < SCHEMA_VERSION:
            raise SchemaError(
                f"the store's schema is version {found}, older than this exptrace "
                f"({SCHEMA_VERSION}): run `exptrace up` on it once to upgrade it in place"
            )
    except BaseException:
        store.close()
        raise
    return store


class _OwnedReadOnlyStore(ReadOnlyStore):
    """A read-only view that also owns (and closes) the store under it."""

    def close(self) -> None:
        self._store.close()


def _existing_tables(store: Store) -> set[str]:
    rows = store.query("SELECT name FROM system.tables WHERE database = currentDatabase()").rows
    return {row[0] for row in rows}


def _reconcile(store: Store, schema: Schema, table: Table, cluster: str | None) -> None:
    """Run what the schema says brings the stored ``table`` to its definition."""
    name = schema.stored_name(table.name, cluster)
    columns = {
        row[0]: row[1]
        for row in store.query(
            "SELECT name, comment FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String}",
            {"t": name},
        ).rows
    }
    indexes: set[str] = set()
    projections: set[str] = set()
    if table.engine != "Null":
        indexes = _names(store, "system.data_skipping_indices", name)
        projections = _names(store, "system.projections", name)
    for statement in schema.reconcile_statements(table, cluster, columns, indexes, projections):
        store.command(statement)


def _names(store: Store, system_table: str, table: str) -> set[str]:
    """The ``name`` column of ``system_table`` (a fixed name) for the stored ``table``."""
    return {
        row[0]
        for row in store.query(
            f"SELECT name FROM {system_table} "  # noqa: S608 (a fixed table name)
            "WHERE database = currentDatabase() AND table = {t:String}",
            {"t": table},
        ).rows
    }


def ensure_query_views(store: Store, schema: Schema, cluster: str | None = None) -> list[str]:
    """Create what the query layer handed over: its tables that are missing (created, never
    changed), then its views that are missing or whose text changed (their stored comment
    differs); returns the views' names. A start with nothing changed writes nothing.

    With less than :data:`STORE_MIN_FREE_BYTES` free on the store's disk, no view is written
    (a metadata file cut short there would keep the engine from opening the store): they
    stay as they are until a start with room, and the log says so.
    """
    if schema.query_tables:
        existing = _existing_tables(store)
        wanted = {name for name, _ in schema.query_tables}
        wanted |= {schema.stored_name(name, cluster) for name in wanted}
        if wanted - existing:
            for statement in schema.query_table_statements(cluster):
                store.command(statement)
    views = schema.query_view_definitions(cluster)
    if not views:
        return []
    stored = dict(
        store.query(
            "SELECT name, comment FROM system.tables WHERE database = currentDatabase() "
            "AND name IN {names:Array(String)}",
            {"names": [view.name for view in views]},
        ).rows
    )
    changed = [view for view in views if stored.get(view.name) != view.comment]
    room = store.free_bytes()
    if changed and room is not None and room < STORE_MIN_FREE_BYTES:
        log.warning(
            "the disk under the store has %d bytes free (under %d MiB): %d query view(s) to "
            "create or replace are left as they are until a start with room (%s)",
            room,
            STORE_MIN_FREE_BYTES >> 20,
            len(changed),
            ", ".join(view.name for view in changed),
        )
        return []
    for view in changed:
        store.command(view.statement)
    return [view.name for view in changed]
