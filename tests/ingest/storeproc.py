"""A ClickHouse-HTTP-compatible server over chDB in a process of its own, so a test can hang
it (SIGSTOP), resume it, or have it come up late on a port the receiver already names."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.ingest.crashload import free_port, stored

_SERVE = (
    "import sys, threading; from tests.chhttp import serve_chdb_http\n"
    "with serve_chdb_http(sys.argv[1], int(sys.argv[2])):\n"
    "    print('serving', flush=True); threading.Event().wait()\n"
)


class StoreProcess:
    """The store of ``data_dir`` (chDB in ``<data_dir>/store``) served over HTTP."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.port}/default"

    def start(self) -> None:
        (self.data_dir / "store").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(self.data_dir / "store"), str(self.port)],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "serving"
        with socket.create_connection(("127.0.0.1", self.port), timeout=10):
            pass

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(60)

    def rows(self, sql: str) -> list[list]:
        """``sql`` over the stopped store's directory."""
        self.stop()
        return stored(self.data_dir, sql)
