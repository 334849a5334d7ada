"""A real app instrumented with exptrace-propagation exports through the SDK into the store."""

import logging

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from exptrace.propagation import (
    ExperimentLogRecordProcessor,
    ExperimentMiddleware,
    ExperimentSpanProcessor,
)
from tests.ingest.helpers import query


def test_tagged_requests_arrive_with_experiments_in_all_three_tables(receiver):
    endpoint = f"127.0.0.1:{receiver.grpc_port}"
    resource = Resource.create({"service.name": "checkout-app"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(ExperimentSpanProcessor())
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(ExperimentLogRecordProcessor())
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    log = logging.getLogger("tests.checkout-app")
    log.addHandler(LoggingHandler(logger_provider=logger_provider))

    async def pay(request):
        log.warning("payment taken")
        return PlainTextResponse("paid")

    app = Starlette(routes=[Route("/pay", pay)])
    app = OpenTelemetryMiddleware(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    app = ExperimentMiddleware(app, meter_provider=meter_provider)
    client = TestClient(app)
    for variant in ("control", "B", "B"):
        assert client.get("/pay", headers={"x-experiment": f"checkout-v2={variant}"}).text == "paid"
    assert client.get("/pay").text == "paid"  # untagged traffic lands too, with no assignment
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()

    servers = query(
        receiver,
        """
        SELECT Experiments['checkout-v2'] AS v, count() FROM otel_traces
        WHERE ServiceName = 'checkout-app' AND SpanKind = 'Server' GROUP BY v ORDER BY v""",
    )
    assert servers == [["", 1], ["B", 2], ["control", 1]]
    logs = query(
        receiver,
        "SELECT Experiments['checkout-v2'] AS v, count() FROM otel_logs WHERE ServiceName = 'checkout-app' GROUP BY v ORDER BY v",
        flush=False,
    )
    assert logs == [["", 1], ["B", 2], ["control", 1]]
    requests = query(
        receiver,
        """
        SELECT Experiments['checkout-v2'] AS v, sum(Value) FROM otel_metrics_sum
        WHERE ServiceName = 'checkout-app' AND MetricName = 'exptrace.server.requests' GROUP BY v ORDER BY v""",
        flush=False,
    )
    assert requests == [["", 1], ["B", 2], ["control", 1]]
