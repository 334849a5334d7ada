"""``exptrace-ingest``: run the OTLP receiver (also ``exptrace up``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from exptrace.ingest.settings import IngestSettings
from exptrace.ingest.store import StoreError
from exptrace.ingest.wal import WalError
from exptrace.propagation.settings import SettingsError

if TYPE_CHECKING:
    from exptrace.ingest.server import IngestServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Receiver flags; unset flags leave values parsed elsewhere (and the environment) alone."""
    unset = argparse.SUPPRESS
    parser.add_argument(
        "--data-dir", default=unset, help="log, embedded store and dead letters (EXPTRACE_DATA_DIR)"
    )
    parser.add_argument(
        "--store",
        default=unset,
        help="chdb://PATH, clickhouse://... or http(s)://... (EXPTRACE_STORE)",
    )
    parser.add_argument(
        "--grpc",
        dest="grpc_endpoint",
        default=unset,
        help="OTLP/gRPC HOST:PORT (default 127.0.0.1:4317)",
    )
    parser.add_argument(
        "--http",
        dest="http_endpoint",
        default=unset,
        help="OTLP/HTTP and API HOST:PORT (default 127.0.0.1:4318)",
    )
    parser.add_argument("--token", default=unset, help="require this bearer token (EXPTRACE_TOKEN)")
    parser.add_argument(
        "--retention-days", type=int, default=unset, help="drop rows older than this (0: keep)"
    )


def settings_from_args(args: argparse.Namespace) -> IngestSettings:
    names = ("data_dir", "store", "grpc_endpoint", "http_endpoint", "token", "retention_days")
    return IngestSettings.from_env(**{name: getattr(args, name, None) for name in names})


def serve(settings: IngestSettings, prepare: Callable[[IngestServer], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM, then drain and exit; returns the exit status.

    ``prepare`` may add routes (the query API) before the server starts.
    """
    from exptrace.ingest.server import IngestServer

    try:
        server = IngestServer(settings)
        if prepare is not None:
            prepare(server)
        server.start()
    except (StoreError, WalError, SettingsError, OSError) as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2
    print(
        f"exptrace: receiving OTLP on gRPC :{server.grpc_port} and HTTP :{server.http_port}; "
        f"store {server.store.url}",
        flush=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Wake up now and then: a signal delivered to another thread (the engine runs dozens)
    # only runs its Python handler once the main thread leaves a blocking wait.
    while not stop.wait(0.5):
        pass
    print("exptrace: stopping, flushing the write-ahead log...", flush=True)
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="exptrace-ingest", description="Run the exptrace OTLP receiver on its own."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_from_args(args)
    except SettingsError as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
