"""The store: one small interface to ClickHouse (insert columns, query with bound parameters).

The embedded chDB and the server backends, SQL quoting, the directory lock one process
holds, removing views the engine can no longer load, the link that waits for a server that
is down, and the probe that watches it.
"""

from exptrace.ingest.store.backends import ReadOnlyStore, Result, Store, open_store
from exptrace.ingest.store.locking import DirectoryLock
from exptrace.ingest.store.probe import StoreProbe
from exptrace.ingest.store.sqltext import array_literal, identifier, literal
from exptrace.ingest.store.storelink import LinkedStore, OutageNotes

__all__ = [
    "DirectoryLock",
    "LinkedStore",
    "OutageNotes",
    "ReadOnlyStore",
    "Result",
    "Store",
    "StoreProbe",
    "array_literal",
    "identifier",
    "literal",
    "open_store",
]
