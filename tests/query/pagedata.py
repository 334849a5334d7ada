"""A receiver with the query API and pages, fed over OTLP/HTTP with data every page can show:
a registered experiment whose variant B fails more, an unregistered one, a hop that drops the
tag, and hostile ids, variants, services and routes.
"""

from __future__ import annotations

import datetime as dt
import os
import random

import httpx

from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query import Queries
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.web.http_api import api_routes
from tests.query.synth import Request, encode, experiment

# Ingest keeps only token-shaped experiment ids and variants, so hostile ids reach the pages
# through the URL; hostile text reaches them through service names, routes and the registry's
# free-text fields.
HOSTILE_ID = "<script>alert('id')</script>"
HOSTILE_SERVICE = "<b>svc</b>&amp;"
HOSTILE_ROUTE = "/x?<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "\"><script>alert('owner')</script>"


def with_api(token: str | None = None):
    def prepare(server):
        registry = Registry(server.store)
        server.add_routes(
            api_routes(Queries(server.store, registry), registry, bearer_check(token))
        )

    return prepare


def base_url(server) -> str:
    return f"http://127.0.0.1:{server.http_port}"


def post_spans(server, requests: list[Request], token: str | None = None) -> None:
    """Export through the receiver's OTLP/HTTP endpoint, as an SDK would, and wait for storage."""
    headers = {"content-type": "application/x-protobuf"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    for i in range(0, len(requests), 2000):
        response = httpx.post(
            f"{base_url(server)}/v1/traces",
            content=encode(requests[i : i + 2000]),
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
    assert server.flusher.flush_now(120)


def chain(services: list[str], carried: list[bool], experiments: dict[str, str], ago: float):
    """One trace through ``services``; a service whose ``carried`` is False lost the tag."""
    trace, parent, out = os.urandom(16), b"", []
    for service, keeps in zip(services, carried, strict=True):
        span = os.urandom(8)
        out.append(
            Request(
                service,
                f"/{service}",
                experiments if keeps else {},
                duration_ms=5,
                trace_id=trace,
                span_id=span,
                parent_span_id=parent,
                ago_seconds=ago,
            )
        )
        parent = span
    return out


def populate(server, token: str | None = None) -> None:
    """Register checkout-v2 (B is worse) and split-check (traffic split 70/30 against
    registered weights of 50/50), and send 30 minutes of telemetry."""
    registry = Registry(server.store)
    registry.create(
        Experiment(
            "checkout-v2",
            name="New checkout flow",
            owner="payments-team",
            description=HOSTILE_TEXT,
            variants={"control": 50, "B": 50},
            artifacts={"B": {"model": "ranker-v7", "image": HOSTILE_TEXT}},
            slo={"availability": 0.99, "latency_p95_ms": 250},
            # started before its telemetry: the experiment page's default is the whole run
            start_time=(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
        ),
        "alice",
    )
    registry.start("checkout-v2", "alice")
    registry.update(
        "checkout-v2", "bob", artifacts={"B": {"model": "ranker-v8", "image": HOSTILE_TEXT}}
    )
    registry.create(Experiment("split-check", variants={"control": 50, "B": 50}), "alice")
    rng = random.Random(11)
    spans = experiment(
        rng,
        "checkout-v2",
        {"control": (900, 0.01, 80), "B": (900, 0.12, 140)},
        ago_seconds=1800,
    )
    spans += experiment(
        rng,
        "split-check",
        {"control": (700, 0.01, 50), "B": (300, 0.01, 50)},
        "search",
        "/search",
        1800,
    )
    spans += experiment(
        rng, "ghost-exp", {"on": (150, 0.02, 50), "off": (150, 0.02, 50)}, "search", "/search", 1800
    )
    spans += experiment(
        rng,
        "odd-names",
        {"on": (60, 0.5, 30), "control": (60, 0.0, 30)},
        HOSTILE_SERVICE,
        HOSTILE_ROUTE,
        1800,
    )
    for i in range(120):
        spans += chain(
            ["frontend", "checkout", "inventory", HOSTILE_SERVICE],
            [True, True, False, False],
            {"checkout-v2": "B" if i % 2 else "control"},
            ago=1700 * rng.random() + 30,
        )
    spans += [
        Request("frontend", "/health", {}, 2, ago_seconds=1800 * rng.random()) for _ in range(200)
    ]
    post_spans(server, spans, token)
