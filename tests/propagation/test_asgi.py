"""The ASGI middleware in real Starlette and FastAPI apps with the real OpenTelemetry SDK."""

import logging

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from exptrace.propagation import ExperimentMiddleware, HashAssigner, PropagationSettings
from exptrace.propagation.metrics import DROPPED, DURATION, ERRORS, REQUESTS
from tests.propagation.apps import starlette_app, wrap_asgi

ORDERS = ["inside", "outside"]


def server_span(telemetry):
    return next(s for s in telemetry.spans() if s.kind.name == "SERVER")


@pytest.mark.parametrize("order", ORDERS)
def test_edge_header_reaches_server_span_child_spans_logs_and_metrics(telemetry, app_log, order):
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, order))
    response = client.get("/", headers={"x-experiment": "checkout-v2=B"})

    assert response.json() == {"checkout-v2": "B"}
    assert server_span(telemetry).attributes["exp.checkout-v2"] == "B"
    assert telemetry.span("handler").attributes["exp.checkout-v2"] == "B"
    assert telemetry.log_attributes()[-1]["exp.checkout-v2"] == "B"
    [(attributes, point)] = telemetry.metric_points(REQUESTS)
    assert attributes == {"exp.checkout-v2": "B"} and point.value == 1
    [(_, histogram)] = telemetry.metric_points(DURATION)
    assert histogram.count == 1 and histogram.sum > 0


@pytest.mark.parametrize("order", ORDERS)
def test_several_experiments_from_baggage_header_and_cookie(telemetry, order):
    settings = PropagationSettings(cookie_name="exp")
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, order, settings))
    response = client.get(
        "/",
        headers={
            "baggage": "userId=alice,exp.search=ctrl",
            "x-experiment": "checkout-v2=B, search=ignored",
            "cookie": "exp=ranker=v2&checkout-v2=ignored",
        },
    )
    assert response.json() == {"search": "ctrl", "checkout-v2": "B", "ranker": "v2"}
    span = server_span(telemetry)
    assert {k: v for k, v in span.attributes.items() if k.startswith("exp.")} == {
        "exp.search": "ctrl",
        "exp.checkout-v2": "B",
        "exp.ranker": "v2",
    }


def test_fastapi_app_with_background_task(telemetry):
    from fastapi import BackgroundTasks

    api = FastAPI()

    def after_response():
        with telemetry.tracer.start_as_current_span("background"):
            pass

    @api.get("/order")
    async def order(tasks: BackgroundTasks):
        tasks.add_task(after_response)
        return {"ok": True}

    client = TestClient(wrap_asgi(api, telemetry, "outside"))
    assert client.get("/order", headers={"x-experiment": "checkout-v2=B"}).status_code == 200
    assert telemetry.span("background").attributes["exp.checkout-v2"] == "B"


@pytest.mark.parametrize("order", ORDERS)
def test_errors_are_counted_per_cohort(telemetry, order):
    client = TestClient(
        wrap_asgi(starlette_app(telemetry), telemetry, order), raise_server_exceptions=False
    )
    headers = {"x-experiment": "checkout-v2=B"}
    assert client.get("/boom", headers=headers).status_code == 500
    assert client.get("/unavailable", headers=headers).status_code == 503
    assert client.get("/", headers=headers).status_code == 200
    [(attributes, errors)] = telemetry.metric_points(ERRORS)
    assert attributes == {"exp.checkout-v2": "B"} and errors.value == 2
    [(_, requests)] = telemetry.metric_points(REQUESTS)
    assert requests.value == 3


def test_allow_list_drops_unknown_and_counts_reasons(telemetry):
    settings = PropagationSettings(known_experiments=frozenset({"checkout-v2"}))
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, "outside", settings))
    response = client.get("/", headers={"x-experiment": "checkout-v2=B,typo=A,bad=<x>"})
    assert response.json() == {"checkout-v2": "B"}
    dropped = {a["reason"]: p.value for a, p in telemetry.metric_points(DROPPED)}
    assert dropped == {"unknown": 1, "invalid": 1}


def test_echo_header_and_sticky_cookie(telemetry):
    settings = PropagationSettings(echo_header=True, cookie_name="exp", set_cookie=True)
    client = TestClient(
        wrap_asgi(starlette_app(telemetry), telemetry, "outside", settings),
        base_url="https://shop.test",
    )
    response = client.get("/", headers={"x-experiment": "checkout-v2=B,search=ctrl"})
    assert response.headers["x-experiment"] == "checkout-v2=B,search=ctrl"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("exp=checkout-v2=B&search=ctrl;")
    assert "HttpOnly" in cookie and "Secure" in cookie
    # The client sends the cookie back and keeps its assignment with no header at all.
    assert client.get("/").json() == {"checkout-v2": "B", "search": "ctrl"}


def test_hash_assigner_is_sticky_and_follows_weights(telemetry):
    assigner = HashAssigner(
        {"checkout-v2": {"control": 80, "B": 20}, "search": {"a": 1, "b": 1}},
        unit_header="x-user-id",
    )
    client = TestClient(
        wrap_asgi(starlette_app(telemetry), telemetry, "outside", assigner=assigner)
    )
    first = client.get("/", headers={"x-user-id": "user-42"}).json()
    assert set(first) == {"checkout-v2", "search"}
    assert client.get("/", headers={"x-user-id": "user-42"}).json() == first
    # An explicit assignment wins over the hook for that experiment only.
    forced = client.get("/", headers={"x-user-id": "user-42", "x-experiment": "search=zzz"})
    assert forced.json() == {"search": "zzz", "checkout-v2": first["checkout-v2"]}
    # No unit id: left unassigned rather than given a variant it could not keep.
    assert client.get("/").json() == {}

    n = 4000
    variants = [assigner.variant("checkout-v2", f"u{i}") for i in range(n)]
    share_b = variants.count("B") / n
    assert abs(share_b - 0.2) < 4 * (0.2 * 0.8 / n) ** 0.5  # within 4 standard errors
    in_a = [i for i in range(n) if assigner.variant("search", f"u{i}") == "a"]
    b_within_a = sum(assigner.variant("checkout-v2", f"u{i}") == "B" for i in in_a) / len(in_a)
    assert abs(b_within_a - 0.2) < 0.05  # experiments hash independently


@pytest.mark.parametrize("order", ORDERS)
def test_websocket_carries_assignments(telemetry, order):
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, order))
    with client.websocket_connect("/ws", headers={"x-experiment": "chat-v3=B"}) as ws:
        assert ws.receive_json() == {"chat-v3": "B"}
    [(attributes, _)] = telemetry.metric_points(REQUESTS)
    assert attributes == {"exp.chat-v3": "B"}


def test_lifespan_passes_through_untouched(telemetry):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            await send({"type": "lifespan.shutdown.complete"})

    wrapped = ExperimentMiddleware(app, meter_provider=telemetry.meter_provider)
    with TestClient(wrapped):
        pass
    assert [s["type"] for s in seen] == ["lifespan"]
    assert telemetry.metric_points(REQUESTS) == []


@pytest.mark.parametrize("order", ORDERS)
def test_malformed_input_is_served_dropped_and_never_logged(telemetry, order, caplog):
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, order))
    pii = "alice@example.com"
    headers = {
        "x-experiment": f"checkout-v2=B,{pii}=oops,=,;;,==",
        "baggage": f"exp.search=ctrl,exp.bad=not a token {pii}",
    }
    with caplog.at_level(logging.DEBUG):
        response = client.get("/", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"search": "ctrl", "checkout-v2": "B"}
    # exptrace never logs what it drops. OpenTelemetry's own baggage propagator logs invalid
    # members verbatim when it sees them first (exptrace inside it); from outside, exptrace
    # strips its invalid members before the inner layer reads the header.
    leaked_by = {r.name for r in caplog.records if pii in r.getMessage()}
    assert leaked_by == ({"opentelemetry.baggage.propagation"} if order == "inside" else set())
    span = server_span(telemetry)
    assert "exp.bad" not in span.attributes


def test_oversized_baggage_is_hidden_from_inner_layers_that_would_log_it(telemetry, caplog):
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, "outside"))
    pii = "alice@example.com"
    with caplog.at_level(logging.DEBUG):
        response = client.get(
            "/", headers={"baggage": f"user={pii}," + "k=v," * 3000, "x-experiment": "e=A"}
        )
    assert response.status_code == 200 and response.json() == {"e": "A"}
    assert pii not in caplog.text
    dropped = {a["reason"]: p.value for a, p in telemetry.metric_points(DROPPED)}
    assert dropped == {"oversize": 1}


def test_untagged_requests_are_counted_without_assignments(telemetry):
    client = TestClient(wrap_asgi(starlette_app(telemetry), telemetry, "outside"))
    assert client.get("/").json() == {}
    [(attributes, point)] = telemetry.metric_points(REQUESTS)
    assert attributes == {} and point.value == 1
    assert "exp.checkout-v2" not in server_span(telemetry).attributes


@pytest.fixture
def experiment_propagator_installed():
    from opentelemetry import propagate
    from opentelemetry.propagators.composite import CompositePropagator

    from exptrace.propagation import ExperimentPropagator

    before = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([before, ExperimentPropagator()]))
    yield
    propagate.set_global_textmap(before)


def test_with_experiment_propagator_inner_otel_reads_resolved_request_not_headers(
    telemetry, experiment_propagator_installed
):
    seen_headers = {}

    async def app(scope, receive, send):
        seen_headers.update({k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    settings = PropagationSettings(cookie_name="exp")
    client = TestClient(wrap_asgi(app, telemetry, "outside", settings))
    client.get("/", headers={"x-experiment": "checkout-v2=B", "cookie": "exp=ranker=v2"})
    assert "baggage" not in seen_headers  # nothing rewritten: the propagator carried it
    attributes = server_span(telemetry).attributes
    assert attributes["exp.checkout-v2"] == "B" and attributes["exp.ranker"] == "v2"

    # Invalid members are still stripped from the header before the inner layer sees it.
    client.get("/", headers={"baggage": "exp.ok=A,exp.bad=a b,user=u1"})
    assert seen_headers["baggage"] == "user=u1,exp.ok=A"


def test_assignments_over_the_services_limits_are_said_once_not_dropped_silently(telemetry, caplog):
    """An assigner with more running experiments than EXPTRACE_MAX_EXPERIMENTS, one of them
    with an id longer than EXPTRACE_MAX_TOKEN_LENGTH (which the registry allows, up to 255):
    what does not fit gets no traffic here, and the service says so once, with the limits
    to raise (a stranger saw 90 of 100 running experiments never assigned, in silence). With
    the limits raised, every one is carried."""
    long_id = "x" * 120
    plans = {f"exp-{i:03d}": {"control": 1, "B": 1} for i in range(12)}
    assigner = HashAssigner({**plans, long_id: {"control": 1, "B": 1}}, unit_header="x-user-id")
    client = TestClient(
        wrap_asgi(starlette_app(telemetry), telemetry, "outside", assigner=assigner)
    )
    with caplog.at_level(logging.WARNING, logger="exptrace"):
        for user in ("user-1", "user-2"):
            assert len(client.get("/", headers={"x-user-id": user}).json()) == 10
    [warning] = [r.getMessage() for r in caplog.records if "limits leave out" in r.getMessage()]
    assert "EXPTRACE_MAX_EXPERIMENTS=10" in warning and "EXPTRACE_MAX_TOKEN_LENGTH=64" in warning
    wide = PropagationSettings(max_experiments=20, max_token_length=128)
    client = TestClient(
        wrap_asgi(starlette_app(telemetry), telemetry, "outside", wide, assigner=assigner)
    )
    assert set(client.get("/", headers={"x-user-id": "user-1"}).json()) == {*plans, long_id}
