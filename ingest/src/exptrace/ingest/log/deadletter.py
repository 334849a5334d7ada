"""The dead-letter directory: bytes the store cannot take, kept with the reason, once each.

Each letter is ``<name>.bin`` (the bytes: a raw OTLP export request, or damaged log bytes)
and ``<name>.json`` (why, when, from where). Names come from where the bytes sat in the
write-ahead log (log id, segment, offset), so a letter written again after a restart (the
segment was not yet trimmed) replaces itself and is counted once. Both files are fsynced
before the caller trims the log.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from exptrace.ingest.stats import IngestStats


class DeadLetters:
    """Writes letters into one directory and counts them by kind."""

    def __init__(self, directory: Path, stats: IngestStats) -> None:
        self.directory = directory
        self.stats = stats

    def keep(self, name: str, kind: str, data: bytes, reason: dict[str, Any]) -> bool:
        """Write one letter unless it exists; returns True when it was new (and counted)."""
        meta = self.directory / f"{name}.json"
        if meta.exists():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_durably(self.directory / f"{name}.bin", data)
        document = {
            "kind": kind,
            **reason,
            "bytes": len(data),
            "data_file": f"{name}.bin",
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_durably(meta, json.dumps(document, indent=2).encode())
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.stats.dead_lettered(kind)
        return True


def _write_durably(path: Path, data: bytes) -> None:
    partial = path.with_suffix(path.suffix + ".tmp")
    with open(partial, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)
