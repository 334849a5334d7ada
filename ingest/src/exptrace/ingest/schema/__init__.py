"""The schema: which tables, views and dictionaries a store holds, and bringing a store to them.

All DDL (the three signals' tables, the landing tables and their materialized views,
redaction as SQL, the registry's experiments, the cluster form), its version, and the forward
migrations that start-up applies; the query layer's own tables and views are handed over
(``Schema(query_tables=..., query_views=...)``) and rendered the same way.

The DDL itself is text in ``sql/`` (tables, registry, views, dictionaries, shared parts),
rendered by :mod:`~exptrace.ingest.schema.ddl`; :mod:`~exptrace.ingest.schema.migrate` reads
what a store has and runs what the schema renders (one way).
"""

from exptrace.ingest.schema.ddl import SCHEMA_VERSION, UNIT_ATTRIBUTES, Schema
from exptrace.ingest.schema.migrate import (
    STORE_MIN_FREE_BYTES,
    ensure_query_views,
    ensure_schema,
    open_existing,
)
from exptrace.ingest.schema.redaction import DEFAULT_DROP_KEYS, DEFAULT_MASKS, Redaction

__all__ = [
    "DEFAULT_DROP_KEYS",
    "DEFAULT_MASKS",
    "SCHEMA_VERSION",
    "STORE_MIN_FREE_BYTES",
    "UNIT_ATTRIBUTES",
    "Redaction",
    "Schema",
    "ensure_query_views",
    "ensure_schema",
    "open_existing",
]
