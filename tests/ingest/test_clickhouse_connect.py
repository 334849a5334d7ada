"""The clickhouse-connect backend: against ClickHouse's HTTP interface served from chDB here,
and against a real server whenever EXPTRACE_TEST_CLICKHOUSE_URL is set."""

import os

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from exptrace.ingest.errors import StoreError
from exptrace.ingest.store.backends import open_store
from tests.chhttp import serve_chdb_http
from tests.ingest.helpers import make_spans, query

BACKENDS = ["chdb-http"] + (["server"] if os.environ.get("EXPTRACE_TEST_CLICKHOUSE_URL") else [])


@pytest.fixture(params=BACKENDS)
def clickhouse_url(request, chdb_url):
    if request.param == "server":
        yield os.environ["EXPTRACE_TEST_CLICKHOUSE_URL"]
        return
    with serve_chdb_http(chdb_url.removeprefix("chdb://")) as port:
        yield f"clickhouse://default@127.0.0.1:{port}/default"


def test_receiver_writes_through_clickhouse_connect(make_receiver, clickhouse_url):
    server = make_receiver(store=clickhouse_url)
    assert server.store.ready and server.store.url.startswith(clickhouse_url.split("://")[0])
    server.store.command("TRUNCATE TABLE IF EXISTS otel_traces")
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True)
    assert (
        exporter.export(make_spans("via-http", 3, {"checkout-v2": "B"})) == SpanExportResult.SUCCESS
    )
    rows = query(
        server,
        "SELECT ServiceName, Experiments['checkout-v2'], count() FROM otel_traces GROUP BY 1, 2",
    )
    assert rows == [["via-http", "B", 3]]
    exporter.shutdown()


def test_bound_parameters_and_errors_over_http(clickhouse_url):
    store = open_store(clickhouse_url)
    try:
        hostile = "x'); DROP TABLE otel_traces; --\n\\"
        assert store.query("SELECT {v:String}", {"v": hostile}).scalar() == hostile
        assert store.query("SELECT {v:Array(String)}", {"v": [hostile]}).scalar() == [hostile]
        with pytest.raises(StoreError) as caught:
            store.query("SELECT * FROM no_such_table_here")
        assert caught.value.code == 60 and not caught.value.is_data_error
    finally:
        store.close()


def test_unreachable_server_is_a_store_error():
    with pytest.raises(StoreError):
        open_store("clickhouse://127.0.0.1:1/default").query("SELECT 1")
