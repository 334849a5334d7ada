"""exptrace's OTLP receiver: takes traces, logs and metrics over OTLP/gRPC and OTLP/HTTP,
logs them durably, and writes them to ClickHouse (the embedded chDB store by default).

What the layers above (``exptrace.query``) and operators may use is named here; every other
module is internal and may change.
"""

from exptrace.ingest.cli import add_arguments, add_setting, serve, settings_from_args
from exptrace.ingest.defaults import DATA_DIR, HTTP_ENDPOINT, LOOPBACK_HOSTS, WILDCARD_HOSTS
from exptrace.ingest.door import FailureLimit, bearer_check
from exptrace.ingest.errors import SchemaError, StoreError
from exptrace.ingest.schema import (
    SCHEMA_VERSION,
    UNIT_ATTRIBUTES,
    Schema,
    ensure_query_views,
    ensure_schema,
    open_existing,
)
from exptrace.ingest.server import IngestServer
from exptrace.ingest.settings import IngestSettings, split_endpoint
from exptrace.ingest.store import OutageNotes, ReadOnlyStore, Store, open_store

__all__ = [
    "DATA_DIR",
    "HTTP_ENDPOINT",
    "LOOPBACK_HOSTS",
    "SCHEMA_VERSION",
    "UNIT_ATTRIBUTES",
    "WILDCARD_HOSTS",
    "FailureLimit",
    "IngestServer",
    "IngestSettings",
    "OutageNotes",
    "ReadOnlyStore",
    "Schema",
    "SchemaError",
    "Store",
    "StoreError",
    "add_arguments",
    "add_setting",
    "bearer_check",
    "ensure_query_views",
    "ensure_schema",
    "open_existing",
    "open_store",
    "serve",
    "settings_from_args",
    "split_endpoint",
]
