"""The receiver stores its own metrics as OTLP in its own store when asked to."""

from tests.ingest.helpers import make_spans, query


def test_own_metrics_land_in_the_store(make_receiver):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    server = make_receiver(self_metrics_interval=3600)
    OTLPSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True).export(
        make_spans("busy", 7)
    )
    server.self_metrics.record()
    rows = query(
        server,
        """
        SELECT MetricName, Attributes['signal'], Value FROM otel_metrics_sum
        WHERE ServiceName = 'exptrace-ingest' AND MetricName = 'exptrace.ingest.items.accepted'""",
    )
    assert rows == [["exptrace.ingest.items.accepted", "traces", 7]]
    gauges = query(
        server,
        "SELECT count() FROM otel_metrics_gauge WHERE ServiceName = 'exptrace-ingest'",
        flush=False,
    )
    assert gauges[0][0] >= 3


def test_cpu_per_stage_is_counted(make_receiver):
    """/metrics says where the receiver's CPU went, stage by stage, from the door to the
    engine's insert (what benchmarks/ingest.py breaks its figure down by)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from exptrace.ingest.stats import CPU_STAGES

    server = make_receiver()
    OTLPSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True).export(
        make_spans("busy", 7)
    )
    assert server.flusher.flush_now()
    text = server.stats.prometheus()
    seconds = {
        stage: float(line.rsplit(" ", 1)[1])
        for stage in CPU_STAGES
        for line in text.splitlines()
        if line.startswith(f'exptrace_ingest_cpu_seconds_total{{stage="{stage}"}} ')
    }
    assert set(seconds) == set(CPU_STAGES)
    assert seconds["engine_insert"] > 0
    assert seconds["door_grpc"] >= seconds["door_decode"] + seconds["door_screen"]
