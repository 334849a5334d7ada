"""A store that refuses everything: the stall shows, nothing is dead-lettered, a stop does
not wait on it, and everything lands once the store is back."""

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.ingest.helpers import make_spans, query, wait_for


@pytest.mark.slow
def test_refusing_store_shows_on_readyz_and_metrics_and_loses_nothing(make_receiver):
    server = make_receiver(store_retry_max_delay=0.2)
    server.store.command("DETACH TABLE otel_traces_landing")  # every insert now fails
    base = f"http://127.0.0.1:{server.http_port}"
    try:
        for _ in range(20):
            payload = encode_spans(make_spans("stalled", 3)).SerializeToString()
            response = httpx.post(
                f"{base}/v1/traces",
                content=payload,
                headers={"content-type": "application/x-protobuf"},
            )
            assert response.status_code == 200
        # What an operator's probe sees: not ready, and why.
        ready = wait_for(lambda: (r := httpx.get(f"{base}/readyz")).status_code == 503 and r)
        assert "refused logged data" in ready.text and "otel_traces_landing" in ready.text
        metrics = httpx.get(f"{base}/metrics").text
        stalled = [
            line
            for line in metrics.splitlines()
            if line.startswith("exptrace_ingest_flush_stalled_seconds ")
        ]
        assert float(stalled[0].split()[1]) > 0
        # A drain (as at shutdown) gives up once a round makes no progress, however long it
        # may wait: the data stays in the log.
        assert server.flusher.flush_now(timeout=3600) is False
        assert server.wal.total_bytes > 0
        assert server.stats.dead_letters == {}  # an outage is not a poison record
    finally:
        server.store.command("ATTACH TABLE otel_traces_landing")
    assert query(server, "SELECT count() FROM otel_traces WHERE ServiceName = 'stalled'") == [[60]]
    wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200)
    assert server.flusher.stalled_seconds() == 0
