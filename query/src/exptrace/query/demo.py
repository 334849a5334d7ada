"""``exptrace demo``: real services, two experiments, live traffic, and the report.

Four ASGI services on loopback, each instrumented with exptrace-propagation and exporting
OTLP to the embedded collector: ``frontend`` assigns users to experiments by hashing their id
and calls ``checkout`` and ``search``; ``checkout`` calls ``inventory`` but forwards only the
trace context, not the baggage (a misconfigured propagator), so that hop loses the tag.
Variant ``B`` of ``checkout-v2`` is slower and fails more often; ``search-rerank`` changes
nothing. The report then has to find all of that from the telemetry alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from exptrace.ingest.http_receiver import bearer_check
from exptrace.ingest.server import IngestServer
from exptrace.ingest.settings import IngestSettings
from exptrace.propagation import (
    ExperimentLogRecordProcessor,
    ExperimentMiddleware,
    ExperimentSpanProcessor,
    HashAssigner,
    PropagationSettings,
    current_assignments,
)
from exptrace.query import render
from exptrace.query.api import Queries, Window
from exptrace.query.http_api import api_routes
from exptrace.query.registry import Experiment, Registry
from exptrace.query.sqlfiles import views

EXPERIMENTS = [
    Experiment(
        "checkout-v2",
        name="New checkout flow",
        owner="payments-team",
        description="One-page checkout with the v7 ranker",
        variants={"control": 50, "B": 50},
        control="control",
        artifacts={
            "control": {"model": "ranker-v6", "image": "shop:2.0"},
            "B": {"model": "ranker-v7", "image": "shop:2.1", "commit": "9f3c2e1"},
        },
        scope=["frontend", "checkout"],
        slo={"availability": 0.99, "latency_p95_ms": 250},
    ),
    Experiment(
        "search-rerank",
        name="Search re-ranking",
        owner="search-team",
        variants={"control": 50, "treatment": 50},
        control="control",
        artifacts={"treatment": {"model": "rerank-2"}},
        scope=["frontend", "search"],
        slo={"availability": 0.995},
    ),
]
KEEP_ALIVE_SECONDS = 120
B_EXTRA_LATENCY = 0.06
B_ERROR_RATE = 0.15
BASE_ERROR_RATE = 0.01


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    log: logging.Logger

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def telemetry(service: str, endpoint: str) -> Telemetry:
    """The SDK set-up a real service would have, exporting OTLP/gRPC to the collector."""
    resource = Resource.create({"service.name": service, "deployment.environment.name": "demo"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(ExperimentSpanProcessor())
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(ExperimentLogRecordProcessor())
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=5_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    log = logging.getLogger(f"exptrace.demo.{service}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(logger_provider=logger_provider))
    return Telemetry(tracer_provider, logger_provider, meter_provider, log)


def instrument(app, t: Telemetry, assigner: HashAssigner | None = None):
    app = OpenTelemetryMiddleware(
        app,
        tracer_provider=t.tracer_provider,
        meter_provider=t.meter_provider,
        exclude_spans=["receive", "send"],
    )
    return ExperimentMiddleware(
        app, PropagationSettings(), assigner=assigner, meter_provider=t.meter_provider
    )


def build_services(endpoint: str, ports: dict[str, int]) -> tuple[dict, list[Telemetry]]:
    rng = random.Random(7)  # noqa: S311 (a reproducible simulation, not a secret)
    t = {
        name: telemetry(name, endpoint) for name in ("frontend", "checkout", "inventory", "search")
    }
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    clients: dict[str, httpx.AsyncClient] = {}

    def client(owner: str, propagate_baggage: bool = True) -> httpx.AsyncClient:
        key = f"{owner}:{propagate_baggage}"
        if key not in clients:
            clients[key] = httpx.AsyncClient(timeout=10)
            if propagate_baggage:
                HTTPXClientInstrumentor.instrument_client(
                    clients[key], tracer_provider=t[owner].tracer_provider
                )
        return clients[key]

    async def frontend(request: Request):
        user = request.headers.get("x-user-id", "anonymous")
        try:
            paid = await client("frontend").get(f"{url['checkout']}/pay", params={"user": user})
            await client("frontend").get(f"{url['search']}/search", params={"q": "shoes"})
        except httpx.TransportError as error:  # a peer closed or refused: a failed request
            t["frontend"].log.error("a downstream service did not answer: %r", error)
            return JSONResponse({"error": "downstream unavailable"}, status_code=502)
        t["frontend"].log.info("checkout page served")
        return JSONResponse({"paid": paid.status_code == 200}, status_code=paid.status_code)

    async def checkout(request: Request):
        variant = current_assignments().get("checkout-v2")
        if variant == "B":
            await asyncio.sleep(B_EXTRA_LATENCY)
        headers: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(
            headers
        )  # trace context only: the baggage is dropped
        try:
            await client("checkout", propagate_baggage=False).get(
                f"{url['inventory']}/reserve", headers=headers
            )
        except httpx.TransportError as error:
            t["checkout"].log.error("inventory did not answer: %r", error)
            return JSONResponse({"error": "inventory unavailable"}, status_code=502)
        failing = rng.random() < (B_ERROR_RATE if variant == "B" else BASE_ERROR_RATE)
        if failing:
            t["checkout"].log.error("payment provider rejected the charge")
            return JSONResponse(
                {"error": "payment failed"}, status_code=502 if rng.random() < 0.3 else 500
            )
        t["checkout"].log.info("payment processed")
        return JSONResponse({"ok": True})

    async def inventory(request: Request):
        await asyncio.sleep(0.002)
        t["inventory"].log.info("stock reserved")
        return JSONResponse({"reserved": True})

    async def search(request: Request):
        await asyncio.sleep(0.005 + rng.random() * 0.01)
        return JSONResponse({"results": 10})

    assigner = HashAssigner({e.id: e.variants for e in EXPERIMENTS}, unit_header="x-user-id")
    apps = {
        "frontend": instrument(
            Starlette(routes=[Route("/checkout", frontend)]), t["frontend"], assigner
        ),
        "checkout": instrument(Starlette(routes=[Route("/pay", checkout)]), t["checkout"]),
        "inventory": instrument(Starlette(routes=[Route("/reserve", inventory)]), t["inventory"]),
        "search": instrument(Starlette(routes=[Route("/search", search)]), t["search"]),
    }
    return apps, list(t.values())


@contextlib.contextmanager
def serving(apps: dict, ports: dict[str, int]) -> Iterator[None]:
    servers = []
    for name, app in apps.items():
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=ports[name],
            log_level="error",
            lifespan="off",
            # idle connections stay open for the whole run: a connection closed under a
            # client about to reuse it would fail a request for no reason of the demo's
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"demo-{name}", daemon=True)
        thread.start()
        servers.append((server, thread))
    deadline = time.monotonic() + 30
    while not all(s.started for s, _ in servers):
        if time.monotonic() > deadline:
            raise RuntimeError("the demo services did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, thread in servers:
            thread.join(10)


async def drive(url: str, total: int, concurrency: int = 16) -> dict[str, int]:
    """Requests from 500 users, with a progress line while they run."""
    counts = {"sent": 0, "errors": 0, "unanswered": 0}
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                response = await client.get(url, headers={"x-user-id": f"user-{i * 7919 % 500}"})
            except httpx.TransportError:  # the frontend closed or refused: count it, go on
                counts["unanswered"] += 1
                continue
            counts["sent"] += 1
            counts["errors"] += response.status_code >= 500
            done = counts["sent"] + counts["unanswered"]
            if done % 50 == 0 or done == total:
                rate = counts["sent"] / (time.monotonic() - started)
                print(
                    f"\r  traffic: {counts['sent']}/{total} requests, {counts['errors']} errors, "
                    f"{counts['unanswered']} unanswered, {rate:.0f} req/s",
                    end="",
                    flush=True,
                )

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    print()
    return counts


@dataclass
class DemoStack:
    """The demo's embedded receiver with its registry, query layer and the services' ports."""

    server: IngestServer
    registry: Registry
    queries: Queries
    ports: dict[str, int]

    def services(self) -> tuple[dict[str, Starlette], list]:
        """The four services, exporting to this receiver (not yet serving)."""
        return build_services(f"127.0.0.1:{self.server.grpc_port}", self.ports)


def start_stack(data_dir: Path, token: str | None = None) -> DemoStack:
    """Start an embedded receiver on ``data_dir`` with the query views, the HTTP API and the
    pages (behind ``token`` when given), and register and start the demo's experiments."""
    settings = IngestSettings(
        data_dir=data_dir,
        grpc_endpoint=f"127.0.0.1:{_free_port()}",
        http_endpoint=f"127.0.0.1:{_free_port()}",
        flush_interval=0.5,
    )
    server = IngestServer(settings, query_views=views())
    registry = Registry(server.store)
    queries = Queries(server.store, registry)
    server.add_routes(api_routes(queries, registry, bearer_check(token), failures=server.failures))
    server.start()
    try:
        for experiment in EXPERIMENTS:
            registry.create(experiment, actor="demo")
            registry.start(experiment.id, actor="demo")
    except BaseException:
        server.stop()
        raise
    ports = {name: _free_port() for name in ("frontend", "checkout", "inventory", "search")}
    return DemoStack(server, registry, queries, ports)


def run_demo(requests: int = 1200, keep_data: bool = False, as_json: bool = False) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="exptrace-demo-"))
    print(f"exptrace demo: collector and store in {data_dir}", flush=True)
    stack = start_stack(data_dir)
    server, queries, ports = stack.server, stack.queries, stack.ports
    ok = False
    try:
        print(f"  registered and started: {', '.join(e.id for e in EXPERIMENTS)}", flush=True)
        apps, telemetries = stack.services()
        start = time.time() - 1
        with serving(apps, ports):
            print(
                "  services up: frontend -> checkout -> inventory (baggage dropped), "
                "frontend -> search",
                flush=True,
            )
            counts = asyncio.run(drive(f"http://127.0.0.1:{ports['frontend']}/checkout", requests))
        if not counts["sent"]:
            print("exptrace demo: no request was answered, so there is nothing to report")
            return 1
        print("  flushing telemetry into the store...", flush=True)
        for t in telemetries:
            t.shutdown()
        server.flusher.flush_now(120)
        window = Window.parse(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)))
        ok = report(queries, window, counts, as_json)
    finally:
        server.stop()
        if keep_data:
            print(
                f"\nData kept in {data_dir}: "
                f"exptrace --data-dir {data_dir} report checkout-v2 --last 1h"
            )
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


def report(queries: Queries, window: Window, counts: dict[str, int], as_json: bool) -> bool:
    checkout = queries.report("checkout-v2", window)
    search = queries.report("search-rerank", window)
    incident = queries.incident(window)
    propagation = queries.propagation_coverage(window)
    coverage = queries.tagging_coverage(window)
    attribution = queries.attribution(window)
    burn = queries.burn_rates()
    if as_json:
        import json

        print(
            json.dumps(
                {
                    "checkout-v2": checkout,
                    "search-rerank": search,
                    "incident": incident,
                    "propagation": propagation,
                    "coverage": coverage,
                    "attribution": attribution,
                    "burn": burn,
                },
                indent=2,
                default=str,
            )
        )
    else:
        sections = [
            (
                "Which experiment did that? (incident attribution over the demo window)",
                render.incident(incident),
            ),
            ("checkout-v2 against control", render.report(checkout)),
            ("search-rerank against control", render.report(search)),
            ("Where does the tag get lost?", render.propagation(propagation)),
            ("How much traffic is tagged?", render.coverage(coverage)),
            ("How much telemetry links to an artifact?", render.attribution(attribution)),
            ("Error-budget burn", render.burn(burn)),
        ]
        for title, body in sections:
            print(f"\n== {title}\n{body}")
        print("\n== Decisions (safe to look at any time)")
        for data in (checkout, search):
            print(decisions(data))
    top = incident["ranked"][0] if incident["ranked"] else {}
    failed = {c["variant"]: c.get("decision") for c in checkout["comparisons"]}
    found = (
        top.get("experiment") == "checkout-v2"
        and top.get("variant") == "B"
        and failed.get("B") == "fail"
    )
    hop = any(
        h["from_service"] == "checkout" and h["service"] == "inventory"
        for h in propagation["losing_hops"]
    )
    if not as_json:
        print(
            f"\nFound the bad variant: {'yes' if found else 'NO'}; "
            f"found the hop that loses the tag: "
            f"{'yes' if hop else 'NO'}; {counts['sent']} requests driven."
        )
    return found and hop


def decisions(data: dict) -> str:
    """One line per treatment: the decision, the words, the method and the unit counted."""
    unit, method = data["unit"], data["method"]
    how = (
        f"{method['name']}, {method['multiplicity']}-corrected, "
        f"per {'unit (' + unit['attribute'] + ')' if unit['analysis'] == 'units' else 'request'}"
    )
    lines = [
        f"{data['experiment']} {c['variant']}: {c['decision']}: {c['verdict']} "
        f"({c.get('units', 0)} vs {c.get('control_units', 0)} units; {how})"
        for c in data["comparisons"]
    ]
    return "\n".join(lines) or f"{data['experiment']}: nothing to compare"


if __name__ == "__main__":
    sys.exit(run_demo())
