"""One token grammar from the middleware to the stored ``Experiments``: a token the
middleware accepts under a raised ``EXPTRACE_MAX_TOKEN_LENGTH`` is kept by the span and log
processors and by the ingest SQL."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from exptrace.propagation import ExperimentMiddleware, PropagationSettings, current_assignments
from exptrace.propagation.grammar import TOKEN_MAX_LENGTH
from exptrace.propagation.settings import SettingsError
from tests.ingest.helpers import make_logs, make_spans, query

LONG = "e" * 100
TOO_LONG = "x" * (TOKEN_MAX_LENGTH + 1)


def test_a_long_token_accepted_at_the_edge_is_stored(receiver):
    seen = {}

    async def handler(request):
        seen.update(current_assignments())
        return PlainTextResponse("ok")

    app = ExperimentMiddleware(
        Starlette(routes=[Route("/", handler)]),
        settings=PropagationSettings(max_token_length=100),
    )
    TestClient(app).get("/", headers={"x-experiment": f"{LONG}=B,{TOO_LONG}=B"})
    assert seen == {LONG: "B"}

    base = f"http://127.0.0.1:{receiver.http_port}"
    OTLPSpanExporter(endpoint=f"{base}/v1/traces").export(
        make_spans("long-token", 1, seen | {TOO_LONG: "B"})
    )
    OTLPLogExporter(endpoint=f"{base}/v1/logs").export(
        make_logs("long-token", ["hello"], seen | {TOO_LONG: "B"})
    )
    assert query(
        receiver, "SELECT Experiments FROM otel_traces WHERE ServiceName = 'long-token'"
    ) == [[{LONG: "B"}]]
    assert query(
        receiver, "SELECT Experiments FROM otel_logs WHERE ServiceName = 'long-token'", flush=False
    ) == [[{LONG: "B"}]]


def test_the_edge_cap_cannot_exceed_the_grammar():
    with pytest.raises(SettingsError, match=f"at most {TOKEN_MAX_LENGTH}"):
        PropagationSettings(max_token_length=TOKEN_MAX_LENGTH + 1)
