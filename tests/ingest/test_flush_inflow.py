"""A drain while exports keep arriving: it ends once what was acknowledged before it is stored.

Under a steady inflow (clients, or the receiver's own metrics every fraction of a second) a
new segment is sealed in nearly every round, so the log is hardly ever empty. A drain that
waited for an empty log reported "not drained" at its timeout although every row it was
called for had landed. The drain now waits for the segments sealed when it was called and
nothing else; it still gives up at once when the store refuses those, even while other
telemetry lands, and a stop that leaves data in the log says so.
"""

from __future__ import annotations

import logging

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.sdk.trace.export import SpanExportResult

from exptrace.ingest.server import IngestServer
from exptrace.ingest.settings import IngestSettings
from exptrace.ingest.store.backends import open_store
from tests.ingest.crashload import Load, Receiver, stored, stored_span_counts
from tests.ingest.helpers import make_spans, wait_for

COUNT = "SELECT count() FROM otel_traces WHERE ServiceName = {service:String}"
OWN_METRICS = "SELECT count() FROM otel_metrics_gauge WHERE ServiceName = 'exptrace-ingest'"


def count(server, service: str) -> int:
    return server.store.query(COUNT, {"service": service}).rows[0][0]


def stored_ids(server) -> set[str]:
    rows = server.store.query("SELECT SpanId FROM otel_traces WHERE ServiceName = 'crash'").rows
    return {span_id for (span_id,) in rows}


def test_flush_now_returns_once_what_was_acknowledged_is_stored_while_exports_keep_coming(
    make_receiver,
):
    """What a user saw: ``flush_now`` returned False after its whole timeout while the rows it
    was called for were already queryable. Here four OTLP/gRPC clients resend as soon as the
    log has room and every export fills a segment, so sealed segments never run out; the call
    must still return True, and everything acknowledged before it must be in the store."""
    server = make_receiver(
        wal_segment_bytes=1024,  # each export (20 spans) seals the segment before it
        wal_max_bytes=16 * 1024,  # a backlog of about 15 segments, then backpressure
    )
    load = Load(server.grpc_port)
    load.start()
    try:
        wait_for(lambda: server.stats.refused.get(("traces", "log_full")), timeout=120)
        for call in range(2):
            acknowledged_before = set(load.acknowledged)
            assert server.flusher.flush_now(120), f"call {call}: reported not drained"
            # Checked against the store, not trusted.
            missing = acknowledged_before - stored_ids(server)
            assert not missing, f"call {call}: {len(missing)} acknowledged spans not stored"
        # The clients kept sending throughout; the store kept up, and no stall is reported
        # (the probe names only the full log, which is the clients' doing).
        assert len(load.acknowledged) > len(acknowledged_before)
        assert server.flusher.stalled_seconds() == 0
        ready = httpx.get(f"http://127.0.0.1:{server.http_port}/readyz")
        assert "refused" not in ready.text and "unreachable" not in ready.text, ready.text
    finally:
        load.stop()
    assert server.flusher.flush_now(120)
    counts = dict(
        server.store.query(
            "SELECT SpanId, count() FROM otel_traces WHERE ServiceName = 'crash' GROUP BY SpanId"
        ).rows
    )
    assert set(load.acknowledged) <= set(counts) and set(counts.values()) == {1}


def test_a_drain_gives_up_on_a_refusing_store_while_other_telemetry_still_lands(make_receiver):
    """What an operator sees: a stop whose spans the store refuses does not wait out its
    timeout just because the receiver's own metrics keep landing; the spans stay in the log
    and land once the store takes them again."""
    server = make_receiver(self_metrics_interval=0.05, store_retry_max_delay=0.2)
    server.store.command("DETACH TABLE otel_traces_landing")  # spans are refused, metrics land
    try:
        metrics_before = server.store.query(OWN_METRICS).rows[0][0]
        exporter = GrpcSpans(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True)
        assert exporter.export(make_spans("refused", 4)) == SpanExportResult.SUCCESS
        exporter.shutdown()
        # Before, this waited out its whole timeout (the test timing out here): every round
        # landed some metrics, which counted as progress.
        assert server.flusher.flush_now(timeout=3600) is False
        wait_for(lambda: server.store.query(OWN_METRICS).rows[0][0] > metrics_before)
        # The metrics landing meanwhile do not hide the stall from /readyz and /metrics.
        assert server.flusher.stalled_seconds() > 0
        assert "otel_traces_landing" in server.flusher.last_error
        assert server.wal.sealed()  # kept in the log
    finally:
        server.store.command("ATTACH TABLE otel_traces_landing")
    assert server.flusher.flush_now(60)
    assert count(server, "refused") == 4
    assert server.stats.dead_letters == {}


def test_a_stop_the_store_refuses_says_so_and_the_next_start_stores_it(chdb_url, tmp_path, caplog):
    """What an operator sees at a clean stop the store refuses: a warning naming how much
    stays in the log and why, the segments on disk, and the spans stored after a restart."""
    settings = IngestSettings(
        data_dir=tmp_path / "data",
        store=chdb_url,
        grpc_endpoint="127.0.0.1:0",
        http_endpoint="127.0.0.1:0",
        flush_interval=0.1,
        store_retry_max_delay=0.2,
        self_metrics_interval=0.05,
        change_store_settings=True,
    )
    server = IngestServer(settings).start()
    server.store.command("DETACH TABLE otel_traces_landing")
    try:
        exporter = GrpcSpans(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True)
        assert exporter.export(make_spans("stopped", 6)) == SpanExportResult.SUCCESS
        exporter.shutdown()
        with caplog.at_level(logging.WARNING, logger="exptrace.ingest.log.flusher"):
            server.stop()
    finally:
        # The stopped receiver released the store; reopening it re-attaches a detached table.
        store = open_store(chdb_url)
        store.command("ATTACH TABLE IF NOT EXISTS otel_traces_landing")
        nothing = store.query(COUNT, {"service": "stopped"}).rows
        store.close()
    [warning] = [r.getMessage() for r in caplog.records if "not in the store" in r.getMessage()]
    assert "stored at the next start" in warning and "otel_traces_landing" in warning
    assert list((tmp_path / "data" / "wal").glob("seg-*.wal"))
    assert nothing == [[0]]
    again = IngestServer(settings).start()
    try:
        assert again.flusher.flush_now(60)
        assert count(again, "stopped") == 6
    finally:
        again.stop()


def test_sigterm_under_steady_inflow_drains_quietly_and_stores_every_acknowledged_span(
    tmp_path,
):
    """The real process, stopped by SIGTERM while four clients send and it stores its own
    metrics every 0.05 s: exit 0, no warning about data left behind, an empty log, and every
    acknowledged span stored once."""
    receiver = Receiver(tmp_path / "data", EXPTRACE_SELF_METRICS_INTERVAL="0.05")
    receiver.start()
    receiver.wait_ready()
    load = Load(receiver.grpc_port)
    load.start()
    try:
        wait_for(lambda: len(load.acknowledged) >= 500, timeout=120)
        assert receiver.stop() == 0
    finally:
        load.stop()
    assert "not in the store" not in receiver.log()
    assert not list((receiver.data_dir / "wal").glob("seg-*.wal"))
    counts = stored_span_counts(receiver.data_dir)
    assert set(load.acknowledged) <= set(counts)
    assert set(counts.values()) == {1}
    [[own_metrics]] = stored(receiver.data_dir, OWN_METRICS)
    assert own_metrics > 0
