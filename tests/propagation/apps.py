"""Small real web apps used by the middleware tests."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OpenTelemetryWSGI
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from exptrace.propagation import (
    ExperimentMiddleware,
    ExperimentWSGIMiddleware,
    PropagationSettings,
    current_assignments,
)
from tests.propagation.telemetry import Telemetry

log = logging.getLogger("tests.app")


def starlette_app(telemetry: Telemetry | None) -> Starlette:
    async def home(request):
        if telemetry is not None:
            with telemetry.tracer.start_as_current_span("handler"):
                log.warning("handling checkout")
        return JSONResponse(current_assignments())

    async def boom(request):
        raise RuntimeError("boom")

    async def unavailable(request):
        return PlainTextResponse("down", status_code=503)

    async def ws(websocket):
        await websocket.accept()
        await websocket.send_json(current_assignments())
        await websocket.close()

    return Starlette(
        routes=[
            Route("/", home),
            Route("/boom", boom),
            Route("/unavailable", unavailable),
            WebSocketRoute("/ws", ws),
        ]
    )


def wrap_asgi(app, telemetry: Telemetry, order: str, settings=None, **kw):
    """``order`` is where exptrace stands relative to OpenTelemetry's ASGI middleware."""
    settings = settings or PropagationSettings()

    def ours(inner):
        return ExperimentMiddleware(inner, settings, meter_provider=telemetry.meter_provider, **kw)

    def otel(inner):
        return OpenTelemetryMiddleware(
            inner,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
            exclude_spans=["receive", "send"],
        )

    return otel(ours(app)) if order == "inside" else ours(otel(app))


def flask_app(telemetry: Telemetry) -> Flask:
    app = Flask("tests")

    @app.get("/")
    def home():
        with telemetry.tracer.start_as_current_span("handler"):
            log.warning("handling checkout")
        return jsonify(current_assignments())

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.get("/stream")
    def stream():
        def body():
            with telemetry.tracer.start_as_current_span("streaming"):
                yield b"chunk:" + ",".join(current_assignments()).encode()

        return Response(body())

    return app


def wrap_wsgi(app, telemetry: Telemetry, order: str, settings=None, **kw):
    settings = settings or PropagationSettings()

    def ours(inner):
        return ExperimentWSGIMiddleware(
            inner, settings, meter_provider=telemetry.meter_provider, **kw
        )

    def otel(inner):
        return OpenTelemetryWSGI(
            inner,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
        )

    return otel(ours(app)) if order == "inside" else ours(otel(app))
