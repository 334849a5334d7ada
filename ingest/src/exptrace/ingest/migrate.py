"""Create the schema on first start, apply forward migrations, keep views in step."""

from __future__ import annotations

import hashlib

from exptrace.ingest.schema import SCHEMA_VERSION, Schema
from exptrace.ingest.store import Store, StoreError


def views_fingerprint(schema: Schema) -> str:
    """Changes when the view SQL (redaction rules, definitions) changes."""
    text = "\n".join(v.select for v in schema.views())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state(schema: Schema) -> str:
    """What the recorded schema row says about views and retention."""
    return f"views {views_fingerprint(schema)} retention {schema.retention_days}"


def ensure_schema(store: Store, schema: Schema, cluster: str | None = None) -> int:
    """Bring ``store`` to :data:`SCHEMA_VERSION`; returns the version it was at (0: new).

    A newer store than this code understands is refused rather than touched.
    """
    statements = schema.statements(cluster)
    store.command(statements[0])  # exptrace_schema itself
    rows = store.query(
        "SELECT version, description FROM exptrace_schema "
        "ORDER BY applied_at DESC, version DESC LIMIT 1"
    ).rows
    found = int(rows[0][0]) if rows else 0
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store's schema is version {found}, newer than this exptrace ({SCHEMA_VERSION}): "
            "upgrade exptrace before pointing it at this store"
        )
    wanted = state(schema)
    recorded = rows[0][1] if rows else ""
    if found == 0:
        for statement in statements[1:]:
            store.command(statement)
    else:
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in schema.migrations().get(version, []):
                store.command(statement)
        if not recorded.startswith(f"views {views_fingerprint(schema)}"):
            _recreate_views(store, schema, cluster)
        if not recorded.endswith(f"retention {schema.retention_days}"):
            _apply_retention(store, schema, cluster)
    if found != SCHEMA_VERSION or recorded != wanted:
        store.command(
            "INSERT INTO exptrace_schema (version, description) VALUES ({v:UInt32}, {d:String})",
            {"v": SCHEMA_VERSION, "d": wanted},
        )
    return found


def _apply_retention(store: Store, schema: Schema, cluster: str | None) -> None:
    """Bring every table's TTL to the configured retention (0 days: keep everything)."""
    on = f" ON CLUSTER {cluster}" if cluster else ""
    for table in schema.tables():
        if table.ttl_column is None:
            continue
        name = f"{table.name}_local" if cluster else table.name
        if schema.retention_days:
            ttl = f"{table.ttl_column} + toIntervalDay({int(schema.retention_days)})"
            store.command(f"ALTER TABLE {name}{on} MODIFY TTL {ttl}")
        else:
            store.command(f"ALTER TABLE {name}{on} REMOVE TTL")


def _recreate_views(store: Store, schema: Schema, cluster: str | None) -> None:
    on = f" ON CLUSTER {cluster}" if cluster else ""
    for name in schema.view_names():
        store.command(f"DROP VIEW IF EXISTS {name}{on}")
    for statement in schema.statements(cluster):
        if statement.startswith(("CREATE MATERIALIZED VIEW", "CREATE VIEW")):
            store.command(statement)
