"""Exclusive ownership of a directory by one process, naming the owner to others."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path


class DirectoryLock:
    """An exclusive lock on a store directory, naming its owner to whoever else tries."""

    def __init__(self, directory: Path, busy: type[Exception]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "exptrace.lock"
        self._file = open(self.path, "a+")  # noqa: SIM115 (held for the store's lifetime)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            raise busy(
                f"{directory} is in use by {owner}: one process owns it. Stop that process, "
                "use another --data-dir, or reach it through its HTTP API."
            ) from None
        self._file.seek(0)
        self._file.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        self._file.write(
            f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv)[:200]}) "
            f"since {started}\n"
        )
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
