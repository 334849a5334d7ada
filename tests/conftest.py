"""Fixtures shared by the ingest and query tests.

chDB runs one engine per process on one directory, so the whole session shares one store
directory; each test starts from empty tables.
"""

from __future__ import annotations

import functools
import os
import sys

import pytest


@functools.cache
def data_tables() -> tuple[str, ...]:
    """Every table that holds rows (ingest's and, handed over, the query layer's), from the
    schema itself: the names are written in the templates only."""
    from exptrace.ingest.schema.ddl import Schema
    from exptrace.query import schema_parts

    tables = Schema(**schema_parts()).tables()
    return tuple(t.name for t in tables if t.engine != "Null" and t.name != "exptrace_schema")


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """End the test process with pytest's own status once everything is reported.

    The session's embedded engine is torn down at interpreter exit, after threads of many
    receivers started and stopped in this one process; chDB's teardown then sometimes
    crashes ("ShutdownTablesThreadPool is not initialized", SIGSEGV) after every test has
    passed. That teardown is the test process's, not the product's (``exptrace up`` exits 0
    after SIGTERM in the crash tests), so the process leaves without it."""
    if _EXIT_STATUS and "chdb" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb-store')}"


def truncate(store) -> None:
    for table in data_tables():
        store.command(f"TRUNCATE TABLE IF EXISTS {table}")


@pytest.fixture
def query_parts() -> dict:
    """What the receivers hand to ingest's schema: nothing here (ingest alone);
    ``tests/query`` hands the query layer's tables and views (``schema_parts()``)."""
    return {}


@pytest.fixture
def make_receiver(chdb_url, tmp_path, query_parts):
    """Start receivers on free ports over the session store; stops them after the test."""
    from exptrace.ingest.server import IngestServer
    from exptrace.ingest.settings import IngestSettings

    started = []

    def make(prepare=None, **overrides):
        settings = IngestSettings(
            **{
                "data_dir": tmp_path / f"receiver-{len(started)}",
                "store": chdb_url,
                "grpc_endpoint": "127.0.0.1:0",
                "http_endpoint": "127.0.0.1:0",
                "flush_interval": 0.1,
                # Tests share one store and set it up differently on purpose.
                "change_store_settings": True,
                **overrides,
            }
        )
        server = IngestServer(settings, **query_parts)
        if not started:
            truncate(server.store)
        if prepare is not None:
            prepare(server)
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def receiver(make_receiver):
    return make_receiver()
