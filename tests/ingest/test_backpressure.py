"""A full log answers with retryable codes; the SDK's own retries then succeed; nothing is lost."""

import threading

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.ingest.helpers import make_spans, query, wait_for


@pytest.mark.slow
def test_log_full_then_store_recovers_and_sdk_retries_succeed(make_receiver):
    server = make_receiver(
        wal_max_bytes=24 * 1024,
        wal_segment_bytes=4 * 1024,
        retry_after=1.0,
        store_retry_max_delay=0.5,
    )
    store = server.store
    store.command("DETACH TABLE otel_traces_landing")  # the store now refuses every insert
    try:
        # Fill the log with batches of the size the SDK will send, until it says "later".
        # Each is new (identical bytes would be recognised as a retry and not logged again).
        url = f"http://127.0.0.1:{server.http_port}/v1/traces"
        statuses = []
        while not statuses or statuses[-1] == 200:
            payload = encode_spans(make_spans("pressure", 5)).SerializeToString()
            response = httpx.post(
                url, content=payload, headers={"content-type": "application/x-protobuf"}
            )
            statuses.append(response.status_code)
            assert len(statuses) < 500
        assert statuses[-1] == 503 and response.headers["retry-after"] == "1"
        accepted_over_http = statuses.count(200)

        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=30
        )
        result = {}
        sender = threading.Thread(
            target=lambda: result.update(r=exporter.export(make_spans("retried", 5)))
        )
        sender.start()
        wait_for(lambda: server.stats.refused[("traces", "log_full")] >= 2)
        assert sender.is_alive()  # the SDK is backing off and retrying, not dropping
    finally:
        store.command("ATTACH TABLE otel_traces_landing")
    sender.join(60)
    assert result["r"] == SpanExportResult.SUCCESS
    counts = dict(
        query(server, "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName")
    )
    assert counts == {"pressure": 5 * accepted_over_http, "retried": 5}
    assert server.stats.store_errors > 0
    assert server.wal.total_bytes == 0
