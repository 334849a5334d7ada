"""One small service on Starlette, FastAPI, Flask and Django (WSGI and ASGI).

Each is wired with exptrace's middleware and, optionally, OpenTelemetry's own framework
instrumentation: none, applied by hand (``instrument_app`` / ``instrument``), or already
applied by ``opentelemetry-instrument`` ("auto"). ``order`` says where exptrace's middleware
stands relative to OpenTelemetry's: "outside" (it sees the request first) or "inside".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import flask
from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from exptrace.propagation import (
    BAGGAGE_PREFIX,
    ExperimentMiddleware,
    ExperimentWSGIMiddleware,
    HashAssigner,
    RequestView,
    current_assignments,
)
from exptrace.propagation.context import UNIT_MEMBER, current_unit

FRAMEWORKS = ("starlette", "fastapi", "flask", "django-wsgi", "django-asgi")
WSGI = ("flask", "django-wsgi")
EXPERIMENT = "checkout-v2"
USER_HEADER = "x-user-id"
USER = "carol@example.com"
RELAYED_UNIT = "0123456789abcdef0123456789abcdef"
"""The unit an upstream service already put in baggage (a middle service's request)."""
RELAYED_BAGGAGE = f"{BAGGAGE_PREFIX}{EXPERIMENT}=B,{UNIT_MEMBER}={RELAYED_UNIT}"


@dataclass(frozen=True)
class SetUp:
    """A framework, how OpenTelemetry instruments it, and where exptrace stands."""

    framework: str
    otel: str
    """"none", "manual" or "auto"."""
    order: str = "outside"

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.otel}-{self.order}"

    @property
    def wsgi(self) -> bool:
        return self.framework in WSGI


def set_ups(otel: str) -> list[SetUp]:
    """Every set-up that can exist for ``otel``.

    Without instrumentation the order means nothing. Django's instrumentation is a Django
    middleware, always inside a WSGI/ASGI wrapper; ``opentelemetry-instrument`` wraps a
    Flask app's ``wsgi_app`` as the app is made, so whatever wraps it later is outside.
    """
    if otel == "none":
        return [SetUp(framework, otel) for framework in FRAMEWORKS]
    inside = ("starlette", "fastapi") if otel == "auto" else ("starlette", "fastapi", "flask")
    return [
        SetUp(framework, otel, order)
        for framework in FRAMEWORKS
        for order in ("outside", "inside")
        if order == "outside" or framework in inside
    ]


def assigner() -> HashAssigner:
    return HashAssigner(
        {EXPERIMENT: {"control": 1, "B": 1}}, unit_header=USER_HEADER, unit_key="s3cret"
    )


def expected(relayed: bool) -> dict[str, str]:
    """The attributes every span of a request must carry."""
    if relayed:
        return {BAGGAGE_PREFIX + EXPERIMENT: "B", UNIT_MEMBER: RELAYED_UNIT}
    hashing = assigner()
    return {
        BAGGAGE_PREFIX + EXPERIMENT: hashing.variant(EXPERIMENT, USER),
        UNIT_MEMBER: hashing.unit_token(RequestView({USER_HEADER: USER})) or "",
    }


def request_headers(relayed: bool) -> dict[str, str]:
    """An entry request (a user id, no baggage) or a relayed one (baggage from upstream)."""
    return {"baggage": RELAYED_BAGGAGE} if relayed else {USER_HEADER: USER}


def observe(tracer_provider: TracerProvider | None) -> dict[str, Any]:
    """The handler: one span of its own, and what it sees and would send downstream."""
    tracer = trace.get_tracer("tests.frameworks", tracer_provider=tracer_provider)
    with tracer.start_as_current_span("handler") as span:
        outbound: dict[str, str] = {}
        propagate.inject(outbound)
        return {
            "trace_id": format(span.get_span_context().trace_id, "032x"),
            "assignments": current_assignments(),
            "unit": current_unit(),
            "baggage": outbound.get("baggage", ""),
        }


def check(reply: dict[str, Any], spans: list[tuple[str, dict]], relayed: bool) -> None:
    """Every span of the request's trace, its code and what it sends on carry the unit."""
    want = expected(relayed)
    assert reply["unit"] == want[UNIT_MEMBER]
    assert reply["assignments"] == {EXPERIMENT: want[BAGGAGE_PREFIX + EXPERIMENT]}
    sent = dict(member.split("=", 1) for member in reply["baggage"].split(","))
    assert {key: sent.get(key) for key in want} == want, reply["baggage"]
    assert any(name == "handler" for name, _ in spans), spans
    for name, attributes in spans:
        assert {key: attributes.get(key) for key in want} == want, name


@contextlib.contextmanager
def serving(set_up: SetUp, tracer_provider: TracerProvider | None = None) -> Iterator[Any]:
    """The set-up's ASGI or WSGI app; OpenTelemetry's spans go to ``tracer_provider``."""
    builders = {
        "starlette": _starlette,
        "fastapi": _fastapi,
        "flask": _flask,
        "django-wsgi": _django,
        "django-asgi": _django,
    }
    with builders[set_up.framework](set_up, tracer_provider) as app:
        yield app


@contextlib.contextmanager
def _starlette(set_up: SetUp, tracer_provider: TracerProvider | None) -> Iterator[Any]:
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    async def checkout(request: Request) -> JSONResponse:
        return JSONResponse(observe(tracer_provider))

    ours = Middleware(ExperimentMiddleware, assigner=assigner())
    inside = set_up.order == "inside"
    app = Starlette(routes=[Route("/checkout", checkout)], middleware=[ours] if inside else [])
    if set_up.otel == "manual":
        StarletteInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    if not inside:
        app.add_middleware(ExperimentMiddleware, assigner=assigner())  # outermost
    yield app


@contextlib.contextmanager
def _fastapi(set_up: SetUp, tracer_provider: TracerProvider | None) -> Iterator[Any]:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI()

    @app.get("/checkout")
    def checkout() -> dict[str, Any]:
        return observe(tracer_provider)

    # OpenTelemetry's FastAPI middleware always stands outside the app's own middleware.
    if set_up.order == "inside":
        app.add_middleware(ExperimentMiddleware, assigner=assigner())
    if set_up.otel == "manual":
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    yield app if set_up.order == "inside" else ExperimentMiddleware(app, assigner=assigner())


@contextlib.contextmanager
def _flask(set_up: SetUp, tracer_provider: TracerProvider | None) -> Iterator[Any]:
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = flask.Flask(__name__)
    app.get("/checkout")(lambda: flask.jsonify(observe(tracer_provider)))
    if set_up.order == "inside":
        app.wsgi_app = ExperimentWSGIMiddleware(app.wsgi_app, assigner=assigner())
    if set_up.otel == "manual":
        FlaskInstrumentor().instrument_app(app, tracer_provider=tracer_provider)
    if set_up.order == "outside":
        app.wsgi_app = ExperimentWSGIMiddleware(app.wsgi_app, assigner=assigner())
    yield app


@contextlib.contextmanager
def _django(set_up: SetUp, tracer_provider: TracerProvider | None) -> Iterator[Any]:
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    from tests.propagation import django_site

    django_site.configure()
    django_site.tracer_provider = tracer_provider
    with contextlib.ExitStack() as undo:
        if set_up.otel == "manual":
            DjangoInstrumentor().instrument(tracer_provider=tracer_provider)
            undo.callback(DjangoInstrumentor().uninstrument)
        if set_up.framework == "django-wsgi":
            from django.core.wsgi import get_wsgi_application

            yield ExperimentWSGIMiddleware(get_wsgi_application(), assigner=assigner())
        else:
            from django.core.asgi import get_asgi_application

            yield ExperimentMiddleware(get_asgi_application(), assigner=assigner())
