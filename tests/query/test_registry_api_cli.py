"""Registry, HTTP API and CLI against a running receiver; hostile input stays data."""

import datetime as dt
import json
import random
import urllib.parse

import httpx
import pytest

from exptrace.ingest import StoreError
from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query import Queries, Window
from exptrace.query.cli import commands as cli
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.errors import RegistryError, UnknownExperiment
from exptrace.query.web.http_api import api_routes
from tests.ingest.helpers import query
from tests.query.synth import Request, experiment, send

HOSTILE = ["x' OR '1'='1", "'; DROP TABLE otel_traces; --", "a\\'b", "{start:String}", "\n\t", "😀"]


def with_api(token=None):
    def prepare(server):
        registry = Registry(server.store)
        server.add_routes(
            api_routes(Queries(server.store, registry), registry, bearer_check(token))
        )

    return prepare


def test_registry_versions_audit_and_transitions(receiver):
    registry = Registry(receiver.store)
    created = registry.create(
        Experiment("checkout-v2", owner="pay", variants={"control": 1, "B": 1}), "alice"
    )
    assert created.version == 1 and created.status == "draft"
    started = registry.start("checkout-v2", "bob")
    assert started.status == "running" and started.start_time and started.version == 2
    updated = registry.update("checkout-v2", "carol", artifacts={"B": {"model": "v7"}})
    assert updated.version == 3 and updated.status == "running"
    with pytest.raises(RegistryError, match="cannot go from running to archived"):
        registry.archive("checkout-v2", "dave")
    registry.stop("checkout-v2", "dave")
    history = registry.history("checkout-v2")
    assert [(h["action"], h["actor"]) for h in history] == [
        ("create", "alice"),
        ("start", "bob"),
        ("update", "carol"),
        ("stop", "dave"),
    ]
    assert json.loads(history[2]["old"])["artifacts"] == {} and json.loads(history[2]["new"])[
        "artifacts"
    ] == {"B": {"model": "v7"}}
    # Earlier versions are kept, never edited in place.
    versions = query(
        receiver, "SELECT version, status FROM exptrace_experiments ORDER BY version", flush=False
    )
    assert versions == [[1, "draft"], [2, "running"], [3, "running"], [4, "stopped"]]
    with pytest.raises(UnknownExperiment):
        registry.get("nope")
    for bad in (
        Experiment("bad id"),
        Experiment("x", variants={}),
        Experiment("x", control="zzz"),
        Experiment("x", slo={"availability": 99.9}),
        Experiment("x", slo={"error_rate_margin": 0}),
        Experiment("x", slo={"latency_margin": -0.05}),
        Experiment("x", artifacts={"ghost": {}}),
    ):
        with pytest.raises(RegistryError):
            registry.create(bad, "alice")


def test_registered_artifacts_link_to_telemetry_at_ingest(receiver):
    registry = Registry(receiver.store)
    registry.create(
        Experiment(
            "ranker",
            variants={"control": 1, "v7": 1},
            artifacts={"v7": {"model": "ranker-v7", "commit": "9f3c2e1"}},
        ),
        "ml-team",
    )
    send(
        receiver,
        [
            Request("search", "/q", {"ranker": "v7"}, 10.0),
            Request("search", "/q", {"ranker": "control"}, 10.0),
        ],
    )
    rows = query(receiver, "SELECT Experiments['ranker'], Artifacts FROM otel_traces ORDER BY 1")
    assert rows == [
        ["control", {}],
        ["v7", {"ranker.model": "ranker-v7", "ranker.commit": "9f3c2e1"}],
    ]
    [traces] = [
        r for r in Queries(receiver.store).attribution(Window.parse()) if r["signal"] == "traces"
    ]
    assert traces["tagged"] == 2 and traces["linked"] == 1 and traces["completeness"] == 0.5


def test_incident_ranks_the_bad_variant_in_its_window_and_lists_registry_events(receiver):
    rng = random.Random(11)
    registry = Registry(receiver.store)
    for exp_id in ("checkout-v2", "search-rerank", "banner"):
        registry.create(Experiment(exp_id, variants={"control": 1, "B": 1}), "ops")
    registry.start("checkout-v2", "ops")
    # 14:02 to 14:20, so to speak: 30 to 12 minutes ago. Variant B breaks checkout then.
    bad = experiment(
        rng, "checkout-v2", {"control": (400, 0.01, 40.0), "B": (400, 0.20, 120.0)}, ago_seconds=1
    )
    for r in bad:
        r.ago_seconds = 12 * 60 + rng.random() * 18 * 60
    calm = experiment(
        rng,
        "search-rerank",
        {"control": (400, 0.01, 40.0), "B": (400, 0.01, 40.0)},
        service="search",
        ago_seconds=1800,
    )
    calm += experiment(
        rng, "banner", {"control": (400, 0.02, 40.0), "B": (400, 0.025, 40.0)}, ago_seconds=1800
    )
    send(receiver, bad + calm)
    now = dt.datetime.now(dt.UTC)
    window = Window.parse(now - dt.timedelta(minutes=31), now - dt.timedelta(minutes=11))
    result = Queries(receiver.store, registry).incident(window)
    top = result["ranked"][0]
    assert (top["experiment"], top["variant"]) == ("checkout-v2", "B")
    assert top["excess_errors"] > 40 and top["p95_shift_ms"] > 50
    assert [r["experiment"] for r in result["ranked"]].count("checkout-v2") == 1
    scoped = Queries(receiver.store, registry).incident(window, service="search")
    assert {r["experiment"] for r in scoped["ranked"]} == {"search-rerank"}
    recent = Queries(receiver.store, registry).incident(Window.parse(last=dt.timedelta(minutes=5)))
    assert [e["action"] for e in recent["registry_events"]][:4] == [
        "create",
        "create",
        "create",
        "start",
    ]


def test_burn_rates_page_on_a_fast_burn_and_stay_ok_otherwise(receiver):
    rng = random.Random(5)
    registry = Registry(receiver.store)
    registry.create(
        Experiment("burny", variants={"control": 1, "B": 1}, slo={"availability": 0.99}), "sre"
    )
    send(
        receiver,
        experiment(
            rng, "burny", {"control": (500, 0.001, 30.0), "B": (500, 0.30, 30.0)}, ago_seconds=600
        ),
    )
    rows = {r["variant"]: r for r in Queries(receiver.store, registry).burn_rates()}
    assert rows["B"]["status"] == "page" and rows["B"]["excess_burn_rates"]["5m"] > 14.4
    assert rows["control"]["status"] == "control" and rows["control"]["availability_target"] == 0.99


def test_http_api_and_cli_with_a_token(make_receiver, capsys):
    server = make_receiver(prepare=with_api("s3cret"), token="s3cret")
    base = f"http://127.0.0.1:{server.http_port}"
    auth = {"authorization": "Bearer s3cret"}
    json_auth = {**auth, "content-type": "application/json"}
    assert httpx.get(f"{base}/api/v1/experiments").status_code == 401
    created = httpx.post(
        f"{base}/api/v1/experiments",
        headers=auth,
        json={"id": "checkout-v2", "variants": {"control": 50, "B": 50}, "actor": "alice"},
    )
    assert created.status_code == 201 and created.json()["version"] == 1
    assert (
        httpx.post(
            f"{base}/api/v1/experiments", headers=auth, json={"id": "checkout-v2"}
        ).status_code
        == 409
    )
    assert (
        httpx.post(f"{base}/api/v1/experiments", headers=auth, json={"id": "bad id"}).status_code
        == 400
    )
    assert (
        httpx.post(f"{base}/api/v1/experiments", headers=json_auth, content=b"[1, 2]").status_code
        == 400
    )
    assert httpx.get(f"{base}/api/v1/experiments/missing", headers=auth).status_code == 404
    assert (
        httpx.post(
            f"{base}/api/v1/experiments/checkout-v2/explode", headers=auth, json={}
        ).status_code
        == 400
    )
    assert httpx.get(f"{base}/api/v1/coverage?from=yesterday", headers=auth).status_code == 400
    send(
        server,
        experiment(
            random.Random(2), "checkout-v2", {"control": (300, 0.01, 40.0), "B": (300, 0.1, 80.0)}
        ),
    )

    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "experiments", "start", "checkout-v2", "--actor", "bob"]) == 0
    assert cli.main([*api, "--json", "experiments", "list"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("[\n") :])
    assert listed[0]["status"] == "running"
    assert cli.main([*api, "report", "checkout-v2", "--last", "1h"]) == 0
    text = capsys.readouterr().out
    assert "more errors" in text and "B " in text and "control" in text
    assert cli.main([*api, "--json", "incident", "--last", "1h"]) == 0
    ranked = json.loads(capsys.readouterr().out)["ranked"]
    assert (ranked[0]["experiment"], ranked[0]["variant"]) == ("checkout-v2", "B")
    for command in (
        ["coverage"],
        ["propagation"],
        ["attribution"],
        ["burn"],
        ["lag"],
        ["cardinality"],
    ):
        assert cli.main([*api, *command]) == 0, command
    capsys.readouterr()
    assert cli.main(["--api", base, "experiments", "list"]) == 2  # no token
    assert "bearer token" in capsys.readouterr().err


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_input_through_every_parameter_is_only_data(make_receiver, hostile):
    server = make_receiver(prepare=with_api())
    send(server, experiment(random.Random(4), "safe", {"control": (10, 0.0, 10.0)}))
    queries = Queries(server.store)
    window = Window.parse()
    assert queries.report(hostile, window)["cohorts"] == []
    assert queries.cohort_slis(window, hostile) == []
    assert queries.incident(window, service=hostile, route=hostile)["ranked"] == []
    base = f"http://127.0.0.1:{server.http_port}/api/v1"
    for path, params in [
        ("/report/x", {"from": hostile}),
        ("/incident", {"service": hostile, "route": hostile}),
        ("/slis", {"experiment": hostile}),
        ("/coverage", {"threshold": hostile}),
        ("/burn", {"at": hostile}),
    ]:
        assert httpx.get(base + path, params=params).status_code in (200, 400)
    response = httpx.get(f"{base}/report/{urllib.parse.quote(hostile, safe='')}")
    assert response.status_code in (200, 404)
    created = httpx.post(
        f"{base}/experiments",
        json={"id": "ok-id", "name": hostile, "description": hostile, "owner": hostile},
    )
    assert (
        created.status_code == 201
        and httpx.get(f"{base}/experiments/ok-id").json()["name"] == hostile
    )
    assert httpx.post(f"{base}/experiments", json={"id": hostile}).status_code == 400
    assert query(
        server, "SELECT count() FROM otel_traces WHERE Experiments['safe'] != ''", flush=False
    ) == [[10]]


def test_the_query_layer_cannot_write(receiver):

    reader = Queries(receiver.store).engine.reader
    with pytest.raises(StoreError):
        reader.query("INSERT INTO exptrace_audit (actor) SELECT 'x'")
    with pytest.raises(StoreError):
        reader.query("DROP TABLE otel_traces")
    assert query(receiver, "SELECT count() FROM exptrace_audit", flush=False) == [[0]]


def test_web_pages_show_reports_and_escape_what_they_show(make_receiver):
    server = make_receiver(prepare=with_api())
    base = f"http://127.0.0.1:{server.http_port}"
    Registry(server.store).create(
        Experiment(
            "checkout-v2", owner="<script>alert(1)</script>", variants={"control": 1, "B": 1}
        ),
        "ui",
    )
    send(
        server,
        experiment(
            random.Random(8), "checkout-v2", {"control": (300, 0.01, 40.0), "B": (300, 0.12, 90.0)}
        ),
    )
    index = httpx.get(f"{base}/ui")
    assert index.status_code == 200 and 'href="/ui/experiments/checkout-v2"' in index.text
    assert "<script>alert(1)</script>" not in index.text and "&lt;script&gt;" in index.text
    page = httpx.get(f"{base}/ui/experiments/checkout-v2?last=6h")
    assert page.status_code == 200 and "more errors, slower" in page.text
    for path in ("/ui/incident", "/ui/coverage", "/ui/propagation"):
        assert httpx.get(base + path).status_code == 200, path
    assert httpx.get(f"{base}/ui/experiments/nope").status_code == 404


def test_allow_list_mode_attributes_only_registered_experiments(make_receiver):
    server = make_receiver(known_experiments_only=True)
    registry = Registry(server.store)
    registry.create(Experiment("checkout-v2", variants={"control": 1, "B": 1}), "ops")
    send(server, [Request("shop", "/pay", {"checkout-v2": "B", "typo-exp": "A"}, 10.0)])
    rows = query(server, "SELECT Experiments, SpanAttributes['exp.typo-exp'] FROM otel_traces")
    assert rows == [[{"checkout-v2": "B"}, "A"]]  # unknown id not attributed, nothing lost
    registry.create(Experiment("typo-exp", variants={"A": 1, "control": 1}), "ops")
    send(server, [Request("shop", "/pay", {"typo-exp": "A"}, 10.0)])
    later = query(server, "SELECT Experiments FROM otel_traces WHERE Experiments['typo-exp'] != ''")
    assert later == [[{"typo-exp": "A"}]]


def test_http_api_defaults_control_to_the_first_variant_and_404s_unknown_ids(make_receiver):
    """As the CLI help and the README say: no control named, the first variant is control."""
    server = make_receiver(prepare=with_api())
    base = f"http://127.0.0.1:{server.http_port}/api/v1"
    created = httpx.post(f"{base}/experiments", json={"id": "ab", "variants": {"B": 1, "A": 1}})
    assert created.status_code == 201 and created.json()["control"] == "B"
    assert httpx.post(f"{base}/experiments", json={"id": "plain"}).json()["control"] == "control"
    # The CLI without --variant registers the same default split as the API.
    assert cli.main(["--api", f"http://127.0.0.1:{server.http_port}", "experiments", "create",
                     "plain-cli"]) == 0  # fmt: skip
    cli_made = httpx.get(f"{base}/experiments/plain-cli").json()
    assert cli_made["variants"] == {"control": 50.0, "treatment": 50.0}
    assert httpx.get(f"{base}/experiments/nope/history").status_code == 404
    assert httpx.get(f"{base}/report/nope").status_code == 404
    # Registered but without traffic yet: a report that says so, not a 404.
    empty = httpx.get(f"{base}/report/ab")
    assert empty.status_code == 200 and empty.json()["cohorts"] == []
    bad_slo = httpx.post(f"{base}/experiments", json={"id": "s", "slo": {"avail": 0.9}})
    assert bad_slo.status_code == 400 and "unknown SLO avail" in bad_slo.json()["error"]


def test_a_restarted_experiment_has_no_end_time(receiver):
    registry = Registry(receiver.store)
    registry.create(Experiment("again", variants={"control": 1, "B": 1}), "ops")
    first = registry.start("again", "ops")
    stopped = registry.stop("again", "ops")
    assert stopped.end_time is not None
    restarted = registry.start("again", "ops")
    assert restarted.end_time is None and restarted.start_time == first.start_time
    assert registry.get("again").end_time is None
