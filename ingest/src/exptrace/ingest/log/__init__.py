"""The log: an export is durable here before it is acknowledged, and drained to the store.

The write-ahead log and its on-disk format, recognising a re-sent export (dedup), the
flusher that turns records into inserts (with the engine's Protobuf format schema), and the
dead letters for what the store will never take.
"""

from exptrace.ingest.log.deadletter import DeadLetters
from exptrace.ingest.log.dedup import RecentExports
from exptrace.ingest.log.flusher import Flusher
from exptrace.ingest.log.wal import Damage, Signal, Ticket, WriteAheadLog

__all__ = [
    "Damage",
    "DeadLetters",
    "Flusher",
    "RecentExports",
    "Signal",
    "Ticket",
    "WriteAheadLog",
]
