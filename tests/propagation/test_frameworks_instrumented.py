"""Under ``opentelemetry-instrument``, every framework's spans land with the unit.

A real ``opentelemetry-instrument`` process serves each set-up of
:mod:`tests.propagation.frameworks` that auto-instrumentation allows (Starlette and FastAPI
with exptrace outside and inside OpenTelemetry's middleware, Flask, Django WSGI and ASGI) and
exports OTLP/gRPC to a real receiver; the assertions read what landed in ``otel_traces``.
Propagators: the SDK's default (``setup()`` adds ``experiment``) and the README's
``OTEL_PROPAGATORS=tracecontext,baggage,experiment``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.ingest.helpers import query
from tests.propagation.frameworks import check, request_headers, set_ups

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
EXIT_DEADLINE = 120


def run_services(grpc_port: int, service: str, propagators: str | None) -> dict:
    """Start the services, request each set-up, stop them; the replies by set-up name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "EXPTRACE_"))}
    env |= {
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "DJANGO_SETTINGS_MODULE": "tests.propagation.django_site",
        "PYTHONPATH": str(ROOT),
    }
    if propagators is not None:
        env["OTEL_PROPAGATORS"] = propagators
    command = [str(INSTRUMENT), sys.executable, "-m", "tests.propagation.instrumented_services"]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            line = process.stdout.readline()
            assert line, "the instrumented services did not start (see stderr)"
            replies = {
                name: {
                    relayed: httpx.get(
                        f"{url}/checkout", headers=request_headers(relayed), timeout=60
                    ).json()
                    for relayed in (False, True)
                }
                for name, url in json.loads(line).items()
            }
        finally:
            process.stdin.close()  # the services exit and the SDK exports what it holds
            assert process.wait(EXIT_DEADLINE) == 0
    return replies


@pytest.mark.slow
@pytest.mark.parametrize("propagators", [None, "tracecontext,baggage,experiment"])
def test_every_landed_span_carries_the_unit(receiver, propagators):
    service = f"interop-{propagators or 'default'}".replace(",", "-")
    replies = run_services(receiver.grpc_port, service, propagators)
    assert sorted(replies) == sorted(s.name for s in set_ups("auto"))

    rows = query(
        receiver,
        "SELECT TraceId, SpanName, SpanKind, SpanAttributes FROM otel_traces"
        " WHERE ServiceName = {s:String}",
        {"s": service},
    )
    for name, by_relayed in replies.items():
        for relayed, reply in by_relayed.items():
            trace = [row for row in rows if row[0] == reply["trace_id"]]
            assert any(kind == "Server" for _, _, kind, _ in trace), (name, trace)
            check(reply, [(span, attributes) for _, span, _, attributes in trace], relayed)
