"""Fixtures shared by the ingest and query tests.

chDB runs one engine per process on one directory, so the whole session shares one store
directory; each test starts from empty tables.
"""

from __future__ import annotations

import pytest

DATA_TABLES = (
    "otel_traces",
    "otel_traces_trace_id_ts",
    "exptrace_requests",
    "otel_logs",
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exponential_histogram",
    "otel_metrics_summary",
    "exptrace_experiments",
    "exptrace_audit",
    "exptrace_freezes",
    "exptrace_decisions",
    "exptrace_watch_findings",
    "exptrace_watch_rounds",
    "exptrace_alert_deliveries",
)


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb-store')}"


def truncate(store) -> None:
    for table in DATA_TABLES:
        store.command(f"TRUNCATE TABLE IF EXISTS {table}")


@pytest.fixture
def make_receiver(chdb_url, tmp_path):
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
        server = IngestServer(settings)
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
