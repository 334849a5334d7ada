"""The randomization unit travels as ``exptrace.unit``: a keyed hash, never the raw id.

Service A (exptrace middleware, HashAssigner keyed by the user id) calls service B, which has
no exptrace at all: only OpenTelemetry's ASGI middleware and the stock BaggageSpanProcessor.
What a user would see if this failed: downstream spans without a unit (so the report falls
back to requests), or a user id readable in telemetry and in headers sent to other services.
"""

import httpx
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.processor.baggage import BaggageSpanProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from exptrace.propagation import HashAssigner
from exptrace.propagation.assign import RequestView
from exptrace.propagation.context import UNIT_MEMBER
from tests.propagation.apps import wrap_asgi
from tests.servers import serve

USER = "carol@example.com"


def test_the_unit_reaches_a_service_without_exptrace_as_a_hash(telemetry):
    exporter = InMemorySpanExporter()
    b_provider = TracerProvider()
    b_provider.add_span_processor(
        BaggageSpanProcessor(lambda key: key.startswith("exp.") or key == UNIT_MEMBER)
    )
    b_provider.add_span_processor(SimpleSpanProcessor(exporter))
    received: dict[str, str] = {}

    async def stock(request):
        received.update(request.headers)
        return JSONResponse({})

    b_app = OpenTelemetryMiddleware(
        Starlette(routes=[Route("/stock", stock)]), tracer_provider=b_provider
    )
    with serve(b_app) as b_url:

        async def checkout(request):
            async with httpx.AsyncClient() as client:
                HTTPXClientInstrumentor.instrument_client(
                    client, tracer_provider=telemetry.tracer_provider
                )
                await client.get(f"{b_url}/stock")
            return JSONResponse({})

        assigner = HashAssigner(
            {"checkout-v2": {"control": 1, "B": 1}}, unit_header="x-user-id", unit_key="s3cret"
        )
        a_app = wrap_asgi(
            Starlette(routes=[Route("/checkout", checkout)]),
            telemetry,
            "inside",
            assigner=assigner,
        )
        with serve(a_app) as a_url:
            httpx.get(f"{a_url}/checkout", headers={"x-user-id": USER})

    token = assigner.unit_token(RequestView({"x-user-id": USER}))
    assert token and len(token) == 32 and USER not in token
    a_server = next(s for s in telemetry.spans() if s.kind.name == "SERVER")
    assert a_server.attributes[UNIT_MEMBER] == token
    b_server = next(s for s in exporter.get_finished_spans() if s.kind.name == "SERVER")
    assert b_server.attributes[UNIT_MEMBER] == token
    assert b_server.attributes["exp.checkout-v2"] == assigner.variant("checkout-v2", USER)
    assert f"{UNIT_MEMBER}={token}" in received["baggage"]
    everything = [received, *(dict(s.attributes) for s in telemetry.spans())]
    assert not any(USER in str(v) for part in everything for v in part.values())


def test_the_hash_is_keyed_and_the_same_in_every_service():
    view = RequestView({"x-user-id": USER})
    experiments = {"e": {"a": 1, "b": 1}}
    one = HashAssigner(experiments, unit_header="x-user-id", unit_key="k1")
    same = HashAssigner(experiments, unit_header="x-user-id", unit_key="k1")
    other = HashAssigner(experiments, unit_header="x-user-id", unit_key="k2")
    assert one.unit_token(view) == same.unit_token(view) != other.unit_token(view)
    assert one.unit_token(RequestView({})) is None
