"""In-process cost per request of the ASGI and WSGI middleware, against the bare app.

(a) the bare app, (b) OpenTelemetry's middleware, (c) (b) plus exptrace, (d) exptrace alone,
all with the real SDK (spans recorded, metrics aggregated) and no network. For ASGI, (b) and
(c) are also measured with OpenTelemetry's ``exclude_spans=["receive", "send"]`` (one span per
request instead of three). Requests carry ``x-experiment: checkout-v2=B``; exptrace stacks run
with the ``experiment`` propagator installed, as ``exptrace.propagation.setup()`` leaves them.
"""

from __future__ import annotations

import asyncio
import io

from flask import Flask
from opentelemetry import propagate
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OpenTelemetryWSGI
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.timing import compare, table
from exptrace.propagation import (
    ExperimentMiddleware,
    ExperimentPropagator,
    ExperimentSpanProcessor,
    ExperimentWSGIMiddleware,
    PropagationSettings,
)

HEADERS = [(b"host", b"bench"), (b"user-agent", b"bench"), (b"x-experiment", b"checkout-v2=B")]


DEFAULT_TEXTMAP = propagate.get_global_textmap()
WITH_EXPERIMENT = CompositePropagator([DEFAULT_TEXTMAP, ExperimentPropagator()])
TEXTMAPS = {
    "bare": DEFAULT_TEXTMAP,
    "otel": DEFAULT_TEXTMAP,
    "otel+exptrace": WITH_EXPERIMENT,  # as exptrace.propagation.setup() leaves it
    "exptrace": WITH_EXPERIMENT,
    "otel-lean": DEFAULT_TEXTMAP,
    "otel-lean+exptrace": WITH_EXPERIMENT,
}


def with_textmap(textmap, drive):
    """Each stack runs with its own global propagator, as it would in its own process."""

    def run(n):
        propagate.set_global_textmap(textmap)
        drive(n)

    return run


def providers(with_exptrace: bool):
    """Identical SDK set-ups, but for exptrace's span processor."""
    tracer_provider = TracerProvider()
    if with_exptrace:
        tracer_provider.add_span_processor(ExperimentSpanProcessor())
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def stacks(bare, otel_middleware, exptrace_middleware, lean: dict | None = None) -> dict:
    """(a) bare, (b) OpenTelemetry, (c) (b) + exptrace, (d) exptrace; with ``lean``, (b) and (c)
    again with those OpenTelemetry middleware options."""
    plain, tagged = providers(False), providers(True)
    settings = PropagationSettings()

    def otel(app, sdk, **options):
        return otel_middleware(app, tracer_provider=sdk[0], meter_provider=sdk[1], **options)

    def ours(app):
        return exptrace_middleware(app, settings, meter_provider=tagged[1])

    built = {
        "bare": bare,
        "otel": otel(bare, plain),
        "otel+exptrace": ours(otel(bare, tagged)),
        "exptrace": ours(bare),
    }
    if lean:
        built["otel-lean"] = otel(bare, plain, **lean)
        built["otel-lean+exptrace"] = ours(otel(bare, tagged, **lean))
    return built


def asgi_stacks():
    async def home(request):
        return PlainTextResponse("ok")

    bare = Starlette(routes=[Route("/", home)])
    lean = {"exclude_spans": ["receive", "send"]}
    return stacks(bare, OpenTelemetryMiddleware, ExperimentMiddleware, lean)


def asgi_driver(app):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": HEADERS,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    loop = asyncio.new_event_loop()

    async def many(n):
        for _ in range(n):
            await app(dict(scope), receive, send)

    return lambda n: loop.run_until_complete(many(n))


def wsgi_stacks():
    flask = Flask("bench")

    @flask.get("/")
    def home():
        return "ok"

    return stacks(flask.wsgi_app, OpenTelemetryWSGI, ExperimentWSGIMiddleware)


def wsgi_driver(app):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "HTTP_USER_AGENT": "bench",
        "HTTP_X_EXPERIMENT": "checkout-v2=B",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status, headers, exc_info=None):
        return None

    def many(n):
        for _ in range(n):
            body = app(dict(environ), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close:
                close()

    return many


def run(quick: bool = False) -> dict[str, dict[str, float]]:
    calls, rounds = (300, 3) if quick else (2000, 15)
    results = {}
    for kind, stacks, driver in (
        ("ASGI (Starlette)", asgi_stacks(), asgi_driver),
        ("WSGI (Flask)", wsgi_stacks(), wsgi_driver),
    ):
        drivers = {name: with_textmap(TEXTMAPS[name], driver(app)) for name, app in stacks.items()}
        per_call = compare(drivers, calls, rounds)
        results[kind] = per_call
        print(f"\n{kind}: median of {rounds} rounds x {calls} requests, in-process")
        rows = [("stack", "us/request", "x bare app")]
        for name, seconds in per_call.items():
            rows.append((name, f"{seconds * 1e6:.1f}", f"{seconds / per_call['bare']:.2f}"))
        print(table(rows))
        c_vs_b = per_call["otel+exptrace"] / per_call["otel"]
        d_vs_a = per_call["exptrace"] / per_call["bare"]
        print(f"(c)/(b) otel+exptrace vs otel : {c_vs_b:.3f}  (target <= 1.05)")
        print(f"(d)/(a) exptrace vs bare app   : {d_vs_a:.3f}  (target <= 1.50)")
        if "otel-lean" in per_call:
            lean = per_call["otel-lean+exptrace"] / per_call["otel-lean"]
            print(f"(c)/(b) with exclude_spans=[receive, send]: {lean:.3f}")
    return results
