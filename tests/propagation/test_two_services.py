"""Service A calls service B over loopback: B's spans, logs and metrics carry A's assignment."""

import logging

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from exptrace.propagation import HashAssigner, current_assignments
from exptrace.propagation.metrics import REQUESTS
from tests.propagation.apps import wrap_asgi
from tests.propagation.telemetry import Telemetry
from tests.servers import serve


def test_assignment_made_in_a_reaches_b(telemetry):
    a_telemetry, b_telemetry = telemetry, Telemetry()
    b_log = logging.getLogger("tests.service_b")
    b_log.addHandler(b_telemetry.logging_handler())

    async def stock(request):
        with b_telemetry.tracer.start_as_current_span("check-stock"):
            b_log.warning("stock checked")
        return JSONResponse(current_assignments())

    b_app = Starlette(routes=[Route("/stock", stock)])
    with serve(wrap_asgi(b_app, b_telemetry, "outside")) as b_url:

        async def checkout(request):
            async with httpx.AsyncClient() as client:
                HTTPXClientInstrumentor.instrument_client(
                    client, tracer_provider=a_telemetry.tracer_provider
                )
                seen_by_b = (await client.get(f"{b_url}/stock")).json()
            return JSONResponse({"a": current_assignments(), "b": seen_by_b})

        a_app = Starlette(routes=[Route("/checkout", checkout)])
        assigner = HashAssigner({"checkout-v2": {"control": 1, "B": 1}}, unit_header="x-user-id")
        a_wrapped = wrap_asgi(a_app, a_telemetry, "inside", assigner=assigner)
        with serve(a_wrapped) as a_url:
            body = httpx.get(
                f"{a_url}/checkout",
                headers={"x-user-id": "user-7", "x-experiment": "search=ctrl"},
            ).json()

    variant = assigner.variant("checkout-v2", "user-7")
    expected = {"search": "ctrl", "checkout-v2": variant}
    assert body == {"a": expected, "b": expected}

    b_spans = b_telemetry.spans()
    assert {s.name for s in b_spans} >= {"GET /stock", "check-stock"}
    for span in b_spans:
        assert span.attributes["exp.checkout-v2"] == variant, span.name
        assert span.attributes["exp.search"] == "ctrl", span.name
    a_client_span = next(s for s in a_telemetry.spans() if s.kind.name == "CLIENT")
    assert a_client_span.attributes["exp.checkout-v2"] == variant
    # B's server span continues A's trace.
    b_server = next(s for s in b_spans if s.kind.name == "SERVER")
    assert b_server.context.trace_id == a_client_span.context.trace_id

    assert b_telemetry.log_attributes()[-1]["exp.checkout-v2"] == variant
    [(attributes, point)] = b_telemetry.metric_points(REQUESTS)
    assert attributes == {"exp.checkout-v2": variant, "exp.search": "ctrl"}
    assert point.value == 1
    b_telemetry.shutdown()
