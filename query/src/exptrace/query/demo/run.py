"""``exptrace demo``: real services, two experiments, live traffic, the watcher acting, and
the report.

Four ASGI services on loopback, each instrumented with exptrace-propagation and exporting
OTLP to the embedded collector: ``frontend`` assigns users to experiments by hashing their id
with the registry's weights (a :class:`RegistryAssigner`) and calls ``checkout`` and
``search``, which follow the registry too; ``checkout`` calls ``inventory`` but forwards only
the trace context, not the baggage (a misconfigured propagator), so that hop loses the tag.
Variant ``B`` of ``checkout-v2`` is slower and fails more often, and the experiment has the
``rollback`` policy; ``search-rerank`` changes nothing. The watcher runs rounds while traffic
flows (:mod:`exptrace.query.demo.act`): it pages, rolls ``B`` back, and the next phase of
traffic shows its users moving to control. The report then has to find all of that from the
telemetry alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
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
from typing import Any

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

from exptrace.ingest import IngestServer, IngestSettings, bearer_check
from exptrace.propagation import (
    Assigner,
    ExperimentLogRecordProcessor,
    ExperimentMiddleware,
    ExperimentSpanProcessor,
    PropagationSettings,
    RegistryAssigner,
    RegistrySettings,
    current_assignments,
)
from exptrace.query.core import (
    Experiment,
    Queries,
    Registry,
    Watcher,
    Window,
    schema_parts,
)
from exptrace.query.demo.act import (
    Answer,
    Console,
    DemoWatch,
    decisions_text,
    move,
    move_text,
)
from exptrace.query.text import render
from exptrace.query.web import api_routes

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
POLICIES = {"checkout-v2": "rollback", "search-rerank": "notify"}
"""What the watcher does when an experiment fails: roll the broken one back, only tell of the
other."""
BROKEN, BAD_VARIANT = "checkout-v2", "B"
POLL_SECONDS = 0.5
"""How often the services ask the registry for its assignments."""
WATCH_INTERVAL = 2.0
ALERT_INTERVAL = 0.5
"""Seconds between the watcher's rounds, and between its alert deliveries."""
AFTER_ROLLBACK_SHARE = 4
"""One request in this many is driven after the rollback, the rest before it."""
WAIT_SECONDS = 180.0
"""The most the demo waits for the watcher to act, or for the alerts to resolve."""
USERS = 500
KEEP_ALIVE_SECONDS = 120
B_EXTRA_LATENCY = 0.06
B_ERROR_RATE = 0.15
BASE_ERROR_RATE = 0.01
JSON = "application/json"


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


def instrument(app, t: Telemetry, assigner: Assigner | None = None):
    app = OpenTelemetryMiddleware(
        app,
        tracer_provider=t.tracer_provider,
        meter_provider=t.meter_provider,
        exclude_spans=["receive", "send"],
    )
    return ExperimentMiddleware(
        app, PropagationSettings(), assigner=assigner, meter_provider=t.meter_provider
    )


@dataclass
class Services:
    """The four services (not yet serving), their telemetry and their registry assigners."""

    apps: dict[str, Starlette]
    telemetries: list[Telemetry]
    assigners: list[RegistryAssigner]

    def ready(self, timeout: float) -> bool:
        """Wait for every assigner's first config from the registry."""
        deadline = time.monotonic() + timeout
        return all(a.ready(max(0.0, deadline - time.monotonic())) for a in self.assigners)

    def flush(self) -> None:
        """Export what the services have buffered, now."""
        for t in self.telemetries:
            t.tracer_provider.force_flush()
            t.logger_provider.force_flush()

    def shutdown(self) -> None:
        """Stop polling the registry and export the rest of the telemetry."""
        for assigner in self.assigners:
            assigner.close()
        for t in self.telemetries:
            t.shutdown()


def build_services(endpoint: str, ports: dict[str, int], registry: RegistrySettings) -> Services:
    """The four services exporting to ``endpoint``: ``frontend`` assigns from the registry by
    the user's id, ``checkout`` and ``search`` revise what arrives by it (``inventory`` gets
    no baggage to revise). Each answer names the ``checkout-v2`` variant checkout ran."""
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
        ran = paid.json().get("variant") if paid.headers.get("content-type") == JSON else None
        return JSONResponse(
            {"paid": paid.status_code == 200, "checkout-v2": ran}, status_code=paid.status_code
        )

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
            return JSONResponse(
                {"error": "inventory unavailable", "variant": variant}, status_code=502
            )
        failing = rng.random() < (B_ERROR_RATE if variant == "B" else BASE_ERROR_RATE)
        if failing:
            t["checkout"].log.error("payment provider rejected the charge")
            return JSONResponse(
                {"error": "payment failed", "variant": variant},
                status_code=502 if rng.random() < 0.3 else 500,
            )
        t["checkout"].log.info("payment processed")
        return JSONResponse({"ok": True, "variant": variant})

    async def inventory(request: Request):
        await asyncio.sleep(0.002)
        t["inventory"].log.info("stock reserved")
        return JSONResponse({"reserved": True})

    async def search(request: Request):
        await asyncio.sleep(0.005 + rng.random() * 0.01)
        return JSONResponse({"results": 10})

    assigners = {
        "frontend": RegistryAssigner(registry, unit_header="x-user-id"),
        "checkout": RegistryAssigner(registry),
        "search": RegistryAssigner(registry),
    }
    routes = {
        "frontend": Route("/checkout", frontend),
        "checkout": Route("/pay", checkout),
        "inventory": Route("/reserve", inventory),
        "search": Route("/search", search),
    }
    apps = {
        name: instrument(Starlette(routes=[route]), t[name], assigners.get(name))
        for name, route in routes.items()
    }
    return Services(apps, list(t.values()), list(assigners.values()))


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


async def drive(
    url: str,
    total: int,
    concurrency: int = 16,
    *,
    answers: list[Answer] | None = None,
    label: str = "traffic",
    console: Console | None = None,
) -> dict[str, int]:
    """Requests from 500 users, with a progress line while they run; each answered one goes
    into ``answers`` when given."""
    console = console or Console()
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
            user, at = f"user-{i * 7919 % USERS}", time.time()
            try:
                response = await client.get(url, headers={"x-user-id": user})
            except httpx.TransportError:  # the frontend closed or refused: count it, go on
                counts["unanswered"] += 1
                continue
            counts["sent"] += 1
            counts["errors"] += response.status_code >= 500
            if answers is not None:
                answers.append(Answer(at, user, _ran(response)))
            done = counts["sent"] + counts["unanswered"]
            if done % 50 == 0 or done == total:
                rate = counts["sent"] / (time.monotonic() - started)
                console.progress(
                    f"  {label}: {counts['sent']}/{total} requests, {counts['errors']} errors, "
                    f"{counts['unanswered']} unanswered, {rate:.0f} req/s"
                )

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    console.end_progress()
    return counts


def _ran(response: httpx.Response) -> str | None:
    """The ``checkout-v2`` variant checkout ran for a request, as the frontend answered."""
    if response.headers.get("content-type") != JSON:
        return None
    return response.json().get("checkout-v2")


@dataclass
class DemoStack:
    """The demo's embedded receiver with its registry, query layer and the services' ports."""

    server: IngestServer
    registry: Registry
    queries: Queries
    ports: dict[str, int]
    watcher: Watcher
    """The one the API and pages ask; the demo runs its rounds."""
    token: str | None = None

    @property
    def url(self) -> str:
        """The receiver's HTTP API and pages."""
        return f"http://127.0.0.1:{self.server.http_port}"

    def services(self) -> Services:
        """The four services, exporting to this receiver and following its registry (not yet
        serving), once every assigner has the registry's first config."""
        settings = RegistrySettings(url=self.url, token=self.token, poll_seconds=POLL_SECONDS)
        services = build_services(f"127.0.0.1:{self.server.grpc_port}", self.ports, settings)
        if not services.ready(60):
            services.shutdown()
            raise RuntimeError("the demo services got no assignments from the registry")
        return services


def start_stack(data_dir: Path, token: str | None = None) -> DemoStack:
    """Start an embedded receiver on ``data_dir`` with the query's tables and views, the HTTP
    API and the pages (behind ``token`` when given), and register and start the demo's
    experiments, each with its watch policy."""
    settings = IngestSettings(
        data_dir=data_dir,
        grpc_endpoint=f"127.0.0.1:{_free_port()}",
        http_endpoint=f"127.0.0.1:{_free_port()}",
        flush_interval=0.5,
    )
    server = IngestServer(settings, **schema_parts())
    registry = Registry(server.store)
    queries = Queries(server.store, registry)
    watcher = Watcher(queries, registry)
    server.add_routes(
        api_routes(
            queries, registry, bearer_check(token), watcher=watcher, failures=server.failures
        )
    )
    server.start()
    try:
        for experiment in EXPERIMENTS:
            registry.create(experiment, actor="demo")
            registry.set_policy(experiment.id, POLICIES[experiment.id], actor="demo")
            registry.start(experiment.id, actor="demo")
    except BaseException:
        server.stop()
        raise
    ports = {name: _free_port() for name in ("frontend", "checkout", "inventory", "search")}
    return DemoStack(server, registry, queries, ports, watcher, token)


def run_demo(requests: int = 1200, keep_data: bool = False, as_json: bool = False) -> int:
    """``exptrace demo`` on a fresh data directory; its exit status: 0 when the report found
    what is planted and the watcher paged, rolled back and moved the traffic, else 1."""
    data_dir = Path(tempfile.mkdtemp(prefix="exptrace-demo-"))
    print(f"exptrace demo: collector and store in {data_dir}", flush=True)
    stack = start_stack(data_dir)
    ok = False
    try:
        ok = demonstrate(stack, requests, as_json)
    finally:
        stack.server.stop()
        if keep_data:
            print(f"\nData kept in {data_dir}: exptrace --data-dir {data_dir} report checkout-v2")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


def demonstrate(stack: DemoStack, requests: int, as_json: bool) -> bool:
    """Serve, watch, drive traffic around the rollback, then report; True when the report
    finds what is planted and the watcher paged, rolled back and moved the traffic."""
    console = Console()
    policies = ", ".join(f"{e.id} (policy {POLICIES[e.id]})" for e in EXPERIMENTS)
    print(f"  registered and started: {policies}", flush=True)
    start = time.time() - 1
    services = stack.services()
    watch = DemoWatch(stack.watcher, console, stack.url, WATCH_INTERVAL, ALERT_INTERVAL)
    answers: list[Answer] = []
    try:
        watch.start()
        print(
            f"  watcher: a round every {WATCH_INTERVAL:g} s over every running experiment since "
            f"its start; alerts to the demo's webhook receiver at {watch.webhook.url}",
            flush=True,
        )
        counts = traffic(stack, services, watch, requests, answers)
        acted = settle(stack, watch, answers) if counts["sent"] else {}
    finally:
        watch.stop()
        services.shutdown()
    if not counts["sent"]:
        print("exptrace demo: no request was answered, so there is nothing to report")
        return False
    print("  flushing telemetry into the store...", flush=True)
    stack.server.flusher.flush_now(120)
    window = Window.parse(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)))
    return report(stack.queries, window, counts, acted, as_json)


def traffic(
    stack: DemoStack, services: Services, watch: DemoWatch, requests: int, answers: list[Answer]
) -> dict[str, int]:
    """Drive three quarters of the requests, wait for the watcher to act on all of them,
    then drive the rest after the rollback: the first users coming back."""
    after = requests // AFTER_ROLLBACK_SHARE
    before = requests - after
    url = f"http://127.0.0.1:{stack.ports['frontend']}/checkout"
    with serving(services.apps, stack.ports):
        print(
            "  services up: frontend -> checkout -> inventory (baggage dropped), frontend -> "
            f"search; each follows the registry (RegistryAssigner, polls every {POLL_SECONDS:g} s)",
            flush=True,
        )
        counts = asyncio.run(drive(url, before, answers=answers, console=watch.console))
        if not counts["sent"]:
            return counts
        services.flush()
        stack.server.flusher.flush_now(120)
        if wait_for_rollback(watch) and after:
            more = asyncio.run(
                drive(
                    url,
                    after,
                    answers=answers,
                    label="traffic after the rollback",
                    console=watch.console,
                )
            )
            counts = {name: counts[name] + more[name] for name in counts}
    return counts


def wait_for_rollback(watch: DemoWatch) -> bool:
    """Wait until the watcher rolls back, or has run a whole round over everything stored
    without doing so; True once it rolled back."""
    if watch.rolled_back.is_set():
        return True
    watch.console.event("traffic paused until the watcher has had a round over all of it")
    rounds, deadline = watch.rounds, time.monotonic() + WAIT_SECONDS
    while not watch.rolled_back.wait(0.1):
        if watch.rounds >= rounds + 2 or time.monotonic() > deadline:
            return watch.rolled_back.is_set()
    return True


def settle(stack: DemoStack, watch: DemoWatch, answers: list[Answer]) -> dict[str, Any]:
    """After the traffic: the move to control, the alerts resolving, the decision log, and
    what the innocent experiment raised; what happened, for the report."""
    at = stack.registry.first_rollback(BROKEN)
    moved = move(answers, _unix(at), BAD_VARIANT, "control") if at else None
    if moved is not None:
        print(move_text(moved, BAD_VARIANT, "control", POLL_SECONDS), flush=True)
    else:
        print(f"  the watcher did not roll {BROKEN} {BAD_VARIANT} back: no traffic to move")
    deadline = time.monotonic() + WAIT_SECONDS
    while at and not watch.webhook.all_resolved() and time.monotonic() < deadline:
        time.sleep(0.1)
    decisions = decisions_text(stack.registry)
    innocent = watch.innocent("search-rerank")
    rounds = f"the watcher ran {watch.rounds} rounds, the last in {watch.round_seconds:.1f} s"
    print(f"{decisions}\n  {innocent}\n  {rounds}", flush=True)
    paged = [
        a
        for a in watch.webhook.received("firing", BROKEN)
        if a["labels"]["variant"] == BAD_VARIANT and a["labels"]["severity"] == "page"
    ]
    return {
        "pages": paged,
        "rollback_at": at,
        "rolled_back_by": [r["decision"]["actor"] for r in watch.rollbacks],
        "move": dataclasses.asdict(moved) if moved is not None else None,
        "moved": moved is not None and moved.complete,
        "resolved": watch.webhook.all_resolved(),
        "decisions": decisions,
        "innocent": innocent,
        "watcher_rounds": watch.rounds,
    }


def _unix(utc: str) -> float:
    """Unix seconds of a time the registry wrote (UTC, no zone)."""
    return dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC).timestamp()


def report(
    queries: Queries,
    window: Window,
    counts: dict[str, int],
    acted: dict[str, Any],
    as_json: bool,
) -> bool:
    """Print what exptrace found (each experiment's report over its whole run, the rest over
    the demo's window) and what the watcher did; True when all that is planted was found and
    acted on."""
    found = {
        "checkout-v2": queries.report("checkout-v2"),
        "search-rerank": queries.report("search-rerank"),
        "incident": queries.incident(window),
        "propagation": queries.propagation_coverage(window),
        "coverage": queries.tagging_coverage(window),
        "attribution": queries.attribution(window),
        "burn": queries.burn_rates(),
    }
    if as_json:
        print(json.dumps({**found, "watch": acted}, indent=2, default=str))
    else:
        print_sections(found)
    checks = {
        "Found the bad variant": bad_variant_found(found["incident"], found["checkout-v2"]),
        "found the hop that loses the tag": any(
            h["from_service"] == "checkout" and h["service"] == "inventory"
            for h in found["propagation"]["losing_hops"]
        ),
        **watch_checks(acted),
    }
    if not as_json:
        said = "; ".join(f"{check}: {'yes' if ok else 'NO'}" for check, ok in checks.items())
        print(f"\n{said}; {counts['sent']} requests driven.")
    return all(checks.values())


def watch_checks(acted: dict[str, Any]) -> dict[str, bool]:
    """Whether the watcher paged for the bad variant, rolled it back, and its former users all
    moved to control (what :func:`settle` gathered)."""
    return {
        "paged": bool(acted.get("pages")),
        "rolled back by the watcher": "watcher" in acted.get("rolled_back_by", []),
        f"{BAD_VARIANT}'s former users all on control": bool(acted.get("moved")),
    }


def print_sections(found: dict[str, Any]) -> None:
    """The answers, as the CLI prints them."""
    sections = [
        (
            "Which experiment did that? (incident attribution over the demo window)",
            render.incident(found["incident"]),
        ),
        ("checkout-v2 against control", render.report(found["checkout-v2"])),
        ("search-rerank against control", render.report(found["search-rerank"])),
        ("Where does the tag get lost?", render.propagation(found["propagation"])),
        ("How much traffic is tagged?", render.coverage(found["coverage"])),
        ("How much telemetry links to an artifact?", render.attribution(found["attribution"])),
        ("Error-budget burn", render.burn(found["burn"])),
    ]
    for title, body in sections:
        print(f"\n== {title}\n{body}")
    print("\n== Decisions (safe to look at any time)")
    for data in (found["checkout-v2"], found["search-rerank"]):
        print(decisions(data))


def bad_variant_found(incident: dict[str, Any], checkout: dict[str, Any]) -> bool:
    """The incident ranks checkout-v2 B first, and its report fails it."""
    top = incident["ranked"][0] if incident["ranked"] else {}
    failed = {c["variant"]: c.get("decision") for c in checkout["comparisons"]}
    return (
        top.get("experiment") == BROKEN
        and top.get("variant") == BAD_VARIANT
        and failed.get(BAD_VARIANT) == "fail"
    )


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
