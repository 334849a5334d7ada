"""Clean restarts of the real receiver on one data directory keep every export.

A clean stop drains and empties the log; before segment numbers were kept, the next start
numbered segments from 1 again, the deduplication tokens repeated, and the store silently
dropped the new exports as duplicates (50, 0, 0 spans stored of 150 acknowledged).
"""

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from exptrace.ingest.log.wal import Signal
from tests.ingest.crashload import Receiver, stored
from tests.ingest.helpers import make_spans


@pytest.mark.slow
def test_three_clean_restarts_store_every_acknowledged_span(tmp_path):
    receiver = Receiver(tmp_path / "data")
    sent = []
    for _ in range(3):
        receiver.start()
        receiver.wait_ready()
        spans = make_spans("restarts", 50)
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        sent += [format(s.context.span_id, "016x") for s in spans]
        assert receiver.stop() == 0  # SIGTERM: drains the log into the store, empties it
        assert not list((receiver.data_dir / "wal").glob("seg-*.wal"))
    rows = stored(
        receiver.data_dir,
        "SELECT SpanId, count() FROM otel_traces WHERE ServiceName = 'restarts' GROUP BY SpanId",
    )
    assert dict(rows) == dict.fromkeys(sent, 1)  # all 150, once each


def test_receivers_sharing_a_store_keep_each_others_exports(make_receiver, chdb_url):
    """Two receivers (two data directories, so two logs numbering their own segments from 1)
    write one ClickHouse store: no export of one is taken for a duplicate of the other's."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from tests.chhttp import serve_chdb_http
    from tests.ingest.helpers import drain, query

    with serve_chdb_http(chdb_url.removeprefix("chdb://")) as port:
        url = f"clickhouse://default@127.0.0.1:{port}/default"
        first, second = make_receiver(store=url), make_receiver(store=url)
        first.store.command("TRUNCATE TABLE IF EXISTS otel_traces")
        for round_ in range(3):
            for name, server in (("first", first), ("second", second)):
                payload = encode_spans(make_spans(f"{name}-{round_}", 4)).SerializeToString()
                server.intake.accept(Signal.TRACES, payload)
                drain(server)
        rows = query(first, "SELECT count(), uniqExact(ServiceName) FROM otel_traces")
        assert rows == [[24, 6]]
        first.stop()
        second.stop()
