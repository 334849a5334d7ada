"""``exptrace-ingest``: run the OTLP receiver (also ``exptrace up``)."""

from __future__ import annotations

import argparse
import functools
import logging
import resource
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from exptrace.ingest import defaults
from exptrace.ingest.errors import StoreError, WalError
from exptrace.ingest.settings import IngestSettings
from exptrace.propagation import SettingsError, flag, variable

if TYPE_CHECKING:
    from exptrace.ingest.server import IngestServer


def add_setting(
    parser: argparse.ArgumentParser,
    name: str,
    help_text: str,
    default_text: str | None = None,
    **options: Any,
) -> None:
    """The flag of :class:`IngestSettings` field ``name``, as the field declares it (flag,
    variable and, unless ``default_text`` says it in words, default); unset, it leaves values
    parsed elsewhere (and the environment) alone."""
    f = next(f for f in fields(IngestSettings) if f.name == name)
    if default_text is None:
        default_text = "none" if f.default is None else f"{f.default:g}"
    parser.add_argument(
        flag(f),
        dest=name,
        default=argparse.SUPPRESS,
        help=f"{help_text} (env {variable(f)}; default {default_text})",
        **options,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The receiver's flags."""
    add = functools.partial(add_setting, parser)

    add("data_dir", "log, embedded store and dead letters", f"./{defaults.DATA_DIR}", metavar="DIR")
    add(
        "store",
        "chdb://PATH, clickhouse://... or http(s)://...",
        "chdb://DIR/store",
        metavar="URL",
    )
    add("grpc_endpoint", "OTLP/gRPC", defaults.GRPC_ENDPOINT, metavar="HOST:PORT")
    add("http_endpoint", "OTLP/HTTP, API and pages", defaults.HTTP_ENDPOINT, metavar="HOST:PORT")
    add("token", "require this bearer token", "none")
    add(
        "allowed_hosts",
        "host names the API and pages answer to besides the listening address",
        "none",
        type=_names,
        metavar="NAME,...",
    )
    add(
        "retention_days",
        "drop rows older than this, 0 keeps all",
        str(defaults.RETENTION_DAYS),
        type=int,
        metavar="DAYS",
    )


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def settings_from_args(args: argparse.Namespace) -> IngestSettings:
    names = [f.name for f in fields(IngestSettings) if flag(f)]
    return IngestSettings.from_env(**{name: getattr(args, name, None) for name in names})


def raise_open_files_limit(wanted: int = 65536) -> None:
    """Lift the soft limit on open files towards the hard one: each connection holds one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(
    settings: IngestSettings,
    prepare: Callable[[IngestServer], None] | None = None,
    announce: Callable[[IngestServer], None] | None = None,
    query_views: Sequence[tuple[str, str]] = (),
    query_tables: Sequence[tuple[str, str]] = (),
) -> int:
    """Run until SIGINT/SIGTERM, then drain and exit; returns the exit status.

    ``prepare`` may add routes (the query API) before the server starts; ``announce`` may
    print where they are once it listens; ``query_views`` and ``query_tables`` go to
    :class:`IngestServer`.
    """
    from exptrace.ingest.server import IngestServer

    raise_open_files_limit()
    stop = threading.Event()
    try:
        server = IngestServer(settings, query_views=query_views, query_tables=query_tables)
        if prepare is not None:
            prepare(server)
        # Before it answers: a stop sent as soon as /readyz says ready is a clean stop, not
        # SIGTERM's default action (a stop while the store opens still ends the process).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
    except (StoreError, WalError, SettingsError, OSError) as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2
    print(
        f"exptrace: receiving OTLP on gRPC :{server.grpc_port} and HTTP :{server.http_port}; "
        f"store {server.store.url}",
        flush=True,
    )
    if announce is not None:
        announce(server)
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
