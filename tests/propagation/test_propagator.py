"""The `experiment` propagator: entry point, extract order, inject, no-SDK mode, setup()."""

import json
import os
import subprocess
import sys

import pytest
from opentelemetry import baggage, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from exptrace.propagation import (
    ExperimentPropagator,
    PropagationSettings,
    current_assignments,
    setup,
)
from exptrace.propagation.context import UNIT_MEMBER

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CARRIER = {
    "traceparent": TRACEPARENT,
    "baggage": "userId=alice,exp.search=ctrl,exp.bad=no way",
    "x-experiment": "checkout-v2=B,search=ignored",
}


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(
    "names",
    [
        "tracecontext,baggage,experiment",
        "experiment,tracecontext,baggage",
        "tracecontext,experiment",
    ],
)
def test_otel_propagators_env_resolves_experiment_in_any_position(names):
    code = (
        "import json; from opentelemetry import propagate, baggage, trace;"
        f"ctx = propagate.extract({CARRIER!r});"
        "print(json.dumps({'baggage': dict(baggage.get_all(ctx)),"
        " 'trace_id': format(trace.get_current_span(ctx).get_span_context().trace_id, '032x')}))"
    )
    out = json.loads(run_python(code, OTEL_PROPAGATORS=names))
    exp = {k: v for k, v in out["baggage"].items() if k.startswith("exp.")}
    assert exp == {"exp.search": "ctrl", "exp.checkout-v2": "B"}
    assert out["trace_id"] == TRACEPARENT.split("-")[1]


@pytest.mark.parametrize("position", [0, 1, 2])
def test_extract_keeps_trace_and_assignments_wherever_it_stands(position):
    propagators = [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
    propagators.insert(position, ExperimentPropagator(PropagationSettings()))
    ctx = CompositePropagator(propagators).extract(CARRIER)
    assert current_assignments(ctx) == {"search": "ctrl", "checkout-v2": "B"}
    assert "exp.bad" not in baggage.get_all(ctx)


@pytest.mark.parametrize(("member", "kept"), [("u-1", "u-1"), ("no way", None)])
def test_extract_keeps_a_valid_unit_without_the_baggage_propagator(member, kept):
    """tracecontext starts a fresh context: the unit survives only through this extract."""
    carrier = {**CARRIER, "baggage": f"{CARRIER['baggage']},{UNIT_MEMBER}={member}"}
    propagators = [TraceContextTextMapPropagator(), ExperimentPropagator(PropagationSettings())]
    ctx = CompositePropagator(propagators).extract(carrier)
    assert baggage.get_baggage(UNIT_MEMBER, ctx) == kept
    assert current_assignments(ctx) == {"search": "ctrl", "checkout-v2": "B"}


def test_inject_writes_the_edge_header_only_when_asked():
    ctx = ExperimentPropagator(PropagationSettings()).extract({"x-experiment": "a=1"})
    quiet, loud = {}, {}
    ExperimentPropagator(PropagationSettings()).inject(quiet, ctx)
    ExperimentPropagator(PropagationSettings(inject_header=True)).inject(loud, ctx)
    assert quiet == {} and loud == {"x-experiment": "a=1"}


def test_without_any_sdk_the_middleware_serves_and_sets_baggage():
    code = """
import json, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from exptrace.propagation import ExperimentMiddleware, current_assignments
async def home(request):
    return JSONResponse(current_assignments())
app = ExperimentMiddleware(Starlette(routes=[Route('/', home)]))
r = TestClient(app).get('/', headers={'x-experiment': 'checkout-v2=B'})
from opentelemetry import metrics, trace
print(json.dumps({'status': r.status_code, 'body': r.json(),
                  'tracer': type(trace.get_tracer_provider()).__name__,
                  'meter': type(metrics.get_meter_provider()).__name__}))
"""
    out = json.loads(run_python(code))
    assert out["status"] == 200 and out["body"] == {"checkout-v2": "B"}
    assert "Proxy" in out["tracer"] and "Proxy" in out["meter"]  # no SDK was configured


def test_setup_wires_global_sdk_and_is_reversible(telemetry):
    import logging

    from opentelemetry import context as otel_context

    before = propagate.get_global_textmap()
    installed = setup(
        PropagationSettings(),
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
    )
    try:
        assert installed.span_processor is not None and installed.log_processor is not None
        ctx = propagate.extract({"x-experiment": "checkout-v2=B"})
        token = otel_context.attach(ctx)
        try:
            telemetry.tracer.start_span("after-setup").end()
            record = logging.getLogRecordFactory()("n", logging.INFO, "f", 1, "m", (), None)
        finally:
            otel_context.detach(token)
        assert telemetry.span("after-setup").attributes["exp.checkout-v2"] == "B"
        assert record.experiments == "checkout-v2=B"
        again = setup(PropagationSettings(), tracer_provider=telemetry.tracer_provider)
        assert again.propagator is None  # already present: not added twice
        again.uninstall()
    finally:
        installed.uninstall()
    assert propagate.get_global_textmap() is before


def test_sdk_disabled_installs_nothing(telemetry):
    installed = setup(
        PropagationSettings(sdk_disabled=True), tracer_provider=telemetry.tracer_provider
    )
    assert installed.span_processor is None and installed.propagator is None
