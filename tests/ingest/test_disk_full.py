"""The disk under the write-ahead log fills up: clients are told to retry, nothing acknowledged
is lost, and intake resumes once the store drains the log."""

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.ingest.helpers import make_spans, query, small_filesystem

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB filesystem (tmpfs) for the receiver's data directory."""
    with small_filesystem(tmp_path, "1m") as mount:
        yield mount


@pytest.mark.slow
def test_full_disk_refuses_with_retryable_codes_and_loses_nothing(tiny_disk, make_receiver):
    server = make_receiver(
        data_dir=tiny_disk,
        wal_max_bytes=64 << 20,
        wal_segment_bytes=64 * 1024,
        store_retry_max_delay=0.2,
    )
    server.store.command("DETACH TABLE otel_traces_landing")  # the log cannot drain
    url = f"http://127.0.0.1:{server.http_port}/v1/traces"
    client = httpx.Client(headers={"content-type": "application/x-protobuf"})
    try:
        statuses = []
        while not statuses or statuses[-1] == 200:
            # new bytes each time: identical ones would be recognised as a client's retry
            payload = encode_spans(make_spans("disk", 20)).SerializeToString()
            response = client.post(url, content=payload)
            statuses.append(response.status_code)
            assert len(statuses) < 2000
        assert statuses[-1] == 503 and "Retry-After" in response.headers
        assert "No space left" in response.text or "disk full" in response.text
        ready = httpx.get(f"http://127.0.0.1:{server.http_port}/readyz")
        assert ready.status_code == 503
        assert "the write-ahead log cannot take data: " in ready.text
        with (
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            channel.unary_unary(TRACE_METHOD)(payload, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.stats.refused[("traces", "log_error")] >= 2
    finally:
        server.store.command("ATTACH TABLE otel_traces_landing")
    acknowledged = statuses.count(200)
    rows = query(server, "SELECT count() FROM otel_traces WHERE ServiceName = 'disk'")
    assert rows == [[20 * acknowledged]]  # every acknowledged span, exactly once
    fresh = encode_spans(make_spans("disk", 20)).SerializeToString()
    assert client.post(url, content=fresh).status_code == 200  # space is free again
    assert httpx.get(f"http://127.0.0.1:{server.http_port}/readyz").status_code == 200
    client.close()
