"""The official OpenTelemetry Python exporters (gRPC and HTTP, gzip) against the receiver."""

import base64
import json

import httpx
import pytest
from google.protobuf import json_format
from grpc import Compression as GrpcCompression
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.ingest.helpers import make_logs, make_metrics, make_spans, query


def exporters(server, transport):
    if transport == "grpc":
        kw = {
            "endpoint": f"127.0.0.1:{server.grpc_port}",
            "insecure": True,
            "compression": GrpcCompression.Gzip,
        }
        return GrpcSpans(**kw), GrpcLogs(**kw), GrpcMetrics(**kw)
    base = f"http://127.0.0.1:{server.http_port}"
    kw = {"compression": HttpCompression.Gzip}
    return (
        HttpSpans(endpoint=f"{base}/v1/traces", **kw),
        HttpLogs(endpoint=f"{base}/v1/logs", **kw),
        HttpMetrics(endpoint=f"{base}/v1/metrics", **kw),
    )


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_all_three_signals_land_with_their_experiments(receiver, transport):
    spans_exp, logs_exp, metrics_exp = exporters(receiver, transport)
    service = f"shop-{transport}"
    assignments = {"checkout-v2": "B"}
    assert spans_exp.export(make_spans(service, 4, assignments)) == SpanExportResult.SUCCESS
    assert (
        logs_exp.export(make_logs(service, ["paid", "shipped"], assignments))
        == LogRecordExportResult.SUCCESS
    )
    assert metrics_exp.export(make_metrics(service, assignments)) == MetricExportResult.SUCCESS

    spans = query(
        receiver,
        "SELECT SpanName, Experiments FROM otel_traces WHERE ServiceName = {s:String} ORDER BY SpanName",
        {"s": service},
    )
    assert spans == [[f"op-{i}", {"checkout-v2": "B"}] for i in range(4)]
    logs = query(
        receiver,
        "SELECT Body, Experiments['checkout-v2'] FROM otel_logs WHERE ServiceName = {s:String} ORDER BY Body",
        {"s": service},
    )
    assert logs == [["paid", "B"], ["shipped", "B"]]
    assert query(
        receiver,
        "SELECT Value FROM otel_metrics_sum WHERE ServiceName = {s:String} AND Experiments['checkout-v2'] = 'B'",
        {"s": service},
    ) == [[5]]
    assert query(
        receiver,
        "SELECT Count, Sum FROM otel_metrics_histogram WHERE ServiceName = {s:String}",
        {"s": service},
    ) == [[1, 0.25]]
    assert query(
        receiver,
        "SELECT Value FROM otel_metrics_gauge WHERE ServiceName = {s:String}",
        {"s": service},
    ) == [[3]]
    for e in (spans_exp, logs_exp, metrics_exp):
        e.shutdown()


def test_json_over_http_is_accepted(receiver):
    message = encode_spans(make_spans("json-svc", 2, {"search": "ctrl"}))
    document = json_format.MessageToDict(message)
    for rs in document["resourceSpans"]:  # OTLP/JSON carries ids as hex, not base64
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    response = httpx.post(
        f"http://127.0.0.1:{receiver.http_port}/v1/traces",
        content=json.dumps(document),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200 and response.json() == {}
    rows = query(
        receiver,
        "SELECT count(), any(Experiments['search']) FROM otel_traces WHERE ServiceName = 'json-svc'",
    )
    assert rows == [[2, "ctrl"]]
    first = message.resource_spans[0].scope_spans[0].spans[0]
    found = query(
        receiver,
        "SELECT SpanId FROM otel_traces WHERE TraceId = {t:String}",
        {"t": first.trace_id.hex()},
        flush=False,
    )
    assert found == [[first.span_id.hex()]]
