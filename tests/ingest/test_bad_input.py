"""Bad requests get the OTLP status codes at the door, nothing is stored, serving goes on."""

import gzip

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.ingest.helpers import make_spans, query

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def good_payload(service="good") -> bytes:
    return encode_spans(make_spans(service, 2)).SerializeToString()


def grpc_call(port, payload, metadata=(), compression=None):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(TRACE_METHOD)
        return export(payload, metadata=metadata, timeout=10, compression=compression)


def grpc_error(port, payload, **kw) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_call(port, payload, **kw)
    return caught.value


def test_grpc_malformed_and_truncated_are_invalid_argument(make_receiver):
    server = make_receiver(max_request_bytes=64 * 1024)
    payload = good_payload()
    for bad in (b"\xff\xff\xff\xff garbage", payload[: len(payload) // 2]):
        error = grpc_error(server.grpc_port, bad)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid OTLP traces request" in error.details()
    oversized = grpc_error(server.grpc_port, b"\x0a" + b"\x00" * (70 * 1024))
    assert oversized.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The receiver keeps serving, and nothing of the bad requests was stored.
    assert grpc_call(server.grpc_port, good_payload("after-bad")) == b""
    assert query(server, "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName") == [
        ["after-bad", 2]
    ]
    assert server.wal.total_bytes == 0


def test_grpc_token_is_required_when_configured(make_receiver):
    server = make_receiver(token="s3cret")
    error = grpc_error(server.grpc_port, good_payload())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = grpc_error(
        server.grpc_port, good_payload(), metadata=(("authorization", "Bearer nope"),)
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{server.grpc_port}",
        insecure=True,
        headers={"authorization": "Bearer s3cret"},
    )
    assert exporter.export(make_spans("authed", 1)) == SpanExportResult.SUCCESS
    assert query(server, "SELECT count() FROM otel_traces WHERE ServiceName = 'authed'") == [[1]]
    refused = server.stats.refused[("traces", "unauthenticated")]
    assert refused == 2


def test_http_status_codes_for_every_kind_of_bad_request(make_receiver):
    server = make_receiver(token="s3cret", max_request_bytes=64 * 1024)
    url = f"http://127.0.0.1:{server.http_port}/v1/traces"
    auth = {"authorization": "Bearer s3cret", "content-type": "application/x-protobuf"}

    def post(content, **headers):
        return httpx.post(url, content=content, headers={**auth, **headers})

    assert (
        httpx.post(
            url, content=good_payload(), headers={"content-type": "application/x-protobuf"}
        ).status_code
        == 401
    )
    assert post(good_payload(), **{"content-type": "text/plain"}).status_code == 415
    assert post(good_payload(), **{"content-encoding": "br"}).status_code == 415
    assert post(b"\xff\xff\xff garbage").status_code == 400
    assert post(good_payload()[:-7]).status_code == 400
    assert post(b"{not json", **{"content-type": "application/json"}).status_code == 400
    assert post(b"x" * (65 * 1024)).status_code == 413
    bomb = gzip.compress(b"\x00" * (10 * 1024 * 1024))  # 10 KiB on the wire, 10 MiB inflated
    assert post(bomb, **{"content-encoding": "gzip"}).status_code == 413
    assert (
        post(
            gzip.compress(b"not gzip inside? no: not protobuf"), **{"content-encoding": "gzip"}
        ).status_code
        == 400
    )
    response = post(gzip.compress(good_payload("http-ok")), **{"content-encoding": "gzip"})
    assert response.status_code == 200
    assert query(server, "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName") == [
        ["http-ok", 2]
    ]
    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics", headers=auth).text
    assert 'exptrace_ingest_requests_refused_total{signal="traces",reason="too_large"} 2' in metrics
    # garbage, truncated, bad JSON, and gzip of something that is not OTLP
    assert 'exptrace_ingest_requests_refused_total{signal="traces",reason="malformed"} 4' in metrics
    assert (
        'exptrace_ingest_requests_refused_total{signal="traces",reason="unauthenticated"} 1'
        in metrics
    )
    assert httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").status_code == 401
    assert httpx.get(f"http://127.0.0.1:{server.http_port}/healthz").text == "ok\n"


def test_second_process_on_the_same_data_dir_gets_a_clear_error(receiver):
    import subprocess
    import sys

    code = (
        "from exptrace.ingest.cli import main; import sys;"
        f"sys.exit(main(['--data-dir', {str(receiver.settings.data_dir)!r}, '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "is in use by pid" in result.stderr and "one process owns it" in result.stderr
    assert "Traceback" not in result.stderr
