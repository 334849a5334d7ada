"""The unit (``exptrace.unit``) and the assignments reach every span on every framework.

Starlette, FastAPI, Flask, Django WSGI and Django ASGI, each without OpenTelemetry's
framework instrumentation and with it (exptrace's middleware outside it and, where the
framework allows, inside), under the default propagators and with the ``experiment``
propagator that ``setup()`` adds. Each serves an entry request (the assigner hashes the user
id into the unit) and a relayed one (assignment and unit already in baggage).
What a user would see if this failed: a service whose reports count requests, not users.
"""

import json

import pytest
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.testclient import TestClient
from werkzeug.test import Client

from exptrace.propagation import ExperimentPropagator
from tests.propagation.frameworks import check, request_headers, serving, set_ups

SET_UPS = [*set_ups("none"), *set_ups("manual")]


@pytest.fixture(params=["tracecontext,baggage", "tracecontext,baggage,experiment"])
def propagators(request):
    """The global propagators, as ``OTEL_PROPAGATORS`` would name them."""
    known = {
        "tracecontext": TraceContextTextMapPropagator,
        "baggage": W3CBaggagePropagator,
        "experiment": ExperimentPropagator,
    }
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([known[name]() for name in request.param.split(",")])
    )
    yield
    propagate.set_global_textmap(previous)


@pytest.mark.parametrize("set_up", SET_UPS, ids=[s.name for s in SET_UPS])
def test_every_span_carries_the_unit(set_up, propagators, telemetry):
    with serving(set_up, telemetry.tracer_provider) as app:
        get = Client(app).get if set_up.wsgi else TestClient(app).get
        replies = {
            relayed: json.loads(get("/checkout", headers=request_headers(relayed)).text)
            for relayed in (False, True)
        }
    spans = telemetry.spans()
    for relayed, reply in replies.items():
        trace = [
            (s.name, dict(s.attributes or {}))
            for s in spans
            if format(s.context.trace_id, "032x") == reply["trace_id"]
        ]
        if set_up.otel != "none":
            assert any(s.kind.name == "SERVER" for s in spans), [s.name for s in spans]
        check(reply, trace, relayed)
