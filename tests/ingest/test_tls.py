"""OTLP over TLS on both ports with a certificate the clients trust; plain text is refused."""

import shutil
import subprocess

import grpc
import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.ingest.helpers import make_spans, query


def self_signed(directory):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificate"
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_both_receivers_speak_tls(make_receiver, tmp_path, monkeypatch):
    # requests lets these override the exporter's certificate_file; some machines set them.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    cert, key = self_signed(tmp_path)
    server = make_receiver(tls_cert_file=str(cert), tls_key_file=str(key))
    credentials = grpc.ssl_channel_credentials(cert.read_bytes())
    grpc_exporter = OTLPSpanExporter(
        endpoint=f"localhost:{server.grpc_port}", credentials=credentials
    )
    assert grpc_exporter.export(make_spans("tls-grpc", 2)) == SpanExportResult.SUCCESS
    http_exporter = HttpSpans(
        endpoint=f"https://localhost:{server.http_port}/v1/traces", certificate_file=str(cert)
    )
    assert http_exporter.export(make_spans("tls-http", 3)) == SpanExportResult.SUCCESS
    rows = query(
        server,
        "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName ORDER BY ServiceName",
    )
    assert rows == [["tls-grpc", 2], ["tls-http", 3]]
    # Plain text is not served on the TLS ports.
    insecure = OTLPSpanExporter(endpoint=f"localhost:{server.grpc_port}", insecure=True, timeout=2)
    assert insecure.export(make_spans("plain", 1)) == SpanExportResult.FAILURE
    try:
        httpx.post(f"http://localhost:{server.http_port}/v1/traces", content=b"", timeout=2)
        served_plain = True
    except httpx.HTTPError:
        served_plain = False
    assert not served_plain
    for exporter in (grpc_exporter, http_exporter, insecure):
        exporter.shutdown()
