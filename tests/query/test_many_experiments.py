"""100,000 distinct experiment ids in one window: every list a user asks for comes back as one
bounded page that says how long the whole list is, in the Python API, the HTTP API, the CLI
and the web pages; the rows that matter (the most burning, the strongest suspects) come first."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from exptrace.query import DEFAULT_LIMIT, Queries, Window, schema_parts
from exptrace.query.cli import commands as cli
from exptrace.query.core.registry import Experiment, Registry
from tests.conftest import truncate
from tests.query.synth import insert_clustered
from tests.query.test_registry_api_cli import with_api

MANY = 100_000


@pytest.fixture(scope="module")
def many(chdb_url, tmp_path_factory):
    """A receiver whose store holds 100,000 small experiments ``many-N`` (two users each, no
    errors, generated in the engine) plus one ``bad-0`` whose treatment fails 20x as often."""
    from exptrace.ingest.server import IngestServer
    from exptrace.ingest.settings import IngestSettings

    server = IngestServer(
        IngestSettings(
            data_dir=tmp_path_factory.mktemp("many-receiver"),
            store=chdb_url,
            grpc_endpoint="127.0.0.1:0",
            http_endpoint="127.0.0.1:0",
            change_store_settings=True,
        ),
        **schema_parts(),
    )
    store = server.store
    truncate(store)
    with_api()(server)
    server.start()
    insert_clustered(
        store,
        experiments=MANY,
        units=2,
        mean_requests=0.3,
        heavy_share=0.0,
        error_rate=0.0,
        prefix="many-",
    )
    insert_clustered(
        store, experiments=1, units=400, error_rate=0.02, error_factor=20.0, prefix="bad-"
    )
    registry = Registry(store)
    for name in ("many-5", "reg-a", "reg-b"):  # many-5 is registered and tagged
        registry.create(Experiment(name, variants={"control": 1, "treatment": 1}), "test")
    yield server
    server.stop()
    truncate(store)


def _count(store, sql: str) -> int:
    return int(store.query(sql).scalar())


def test_python_api_answers_one_page_and_the_total(many):
    store = many.store
    queries = Queries(store)
    window = Window.parse(last=dt.timedelta(hours=1))
    cohorts = _count(
        store,
        "SELECT uniqExact(experiment, variant) FROM otel_traces "
        "ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant",
    )
    assert cohorts > MANY  # most experiments have both arms: positive evidence of the data

    burn = queries.burn_rates()
    assert len(burn) == DEFAULT_LIMIT and burn.total == cohorts and burn.truncated
    assert (burn[0]["experiment"], burn[0]["variant"]) == ("bad-0", "treatment")
    tail = queries.burn_rates(limit=50, offset=cohorts - 10)
    assert len(tail) == 10 and tail.total == cohorts
    past = queries.burn_rates(offset=cohorts + 5)
    assert past == [] and past.total == cohorts and past.truncated

    seen = queries.seen_experiments(window)
    assert len(seen) == DEFAULT_LIMIT and seen.total == MANY + 1
    named = queries.seen_experiments(window, only=["bad-0", "many-7", "nope"])
    assert [r["experiment"] for r in named] == ["bad-0", "many-7"] and not named.truncated

    cardinality = queries.cardinality(window)
    assert cardinality.total == 1 and not cardinality.truncated  # one service: nothing cut
    assert cardinality[0]["experiments"] == MANY + 1

    arms = (
        "FROM (SELECT experiment, groupUniqArray(variant) AS arms FROM otel_traces "
        "ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant "
        "GROUP BY experiment)"
    )
    both_arms = _count(store, f"SELECT countIf(length(arms) = 2) {arms}")
    with_control = _count(store, f"SELECT countIf(has(arms, 'control')) {arms}")
    treated = _count(store, f"SELECT countIf(has(arms, 'treatment')) {arms}")
    incident = queries.incident(window, limit=20)
    overflow = incident["overflow"]
    assert len(incident["ranked"]) == 20 and overflow["ranked"]["total"] == treated
    assert incident["without_control"] == treated - both_arms > 0  # listed, not dropped
    assert overflow["ranked"]["truncated"] and overflow["controls"] == with_control
    assert incident["ranked"][0]["experiment"] == "bad-0" and incident["ranked"][0]["suspect"]
    assert len(incident["controls"]) <= 20  # only the controls of the arms on the page

    with pytest.raises(ValueError, match="limit must be between 1 and"):
        queries.burn_rates(limit=0)
    with pytest.raises(ValueError, match="offset must be 0 or more"):
        queries.cardinality(window, offset=-1)


def test_http_api_keeps_its_shapes_and_reports_the_overflow(many):
    base = f"http://127.0.0.1:{many.http_port}"
    burn = httpx.get(f"{base}/api/v1/burn", params={"limit": 5}, timeout=300)
    assert burn.status_code == 200 and isinstance(burn.json(), list) and len(burn.json()) == 5
    total = int(burn.headers["x-total-count"])
    assert total > MANY and burn.headers["x-limit"] == "5" and burn.headers["x-offset"] == "0"
    assert burn.json()[0]["experiment"] == "bad-0"
    nxt = httpx.get(f"{base}/api/v1/burn", params={"limit": 5, "offset": 5}, timeout=300).json()
    assert not {(r["experiment"], r["variant"]) for r in nxt} & {
        (r["experiment"], r["variant"]) for r in burn.json()
    }

    seen = httpx.get(f"{base}/api/v1/seen", params={"limit": 7, "offset": 2}, timeout=300)
    assert [r["experiment"] for r in seen.json()][:2] == ["many-1", "many-10"]
    assert len(seen.json()) == 7 and seen.headers["x-total-count"] == str(MANY + 1)
    unregistered = httpx.get(f"{base}/api/v1/seen", params={"unregistered": "true"}, timeout=300)
    assert unregistered.headers["x-total-count"] == str(MANY)  # all but the registered many-5

    cardinality = httpx.get(f"{base}/api/v1/cardinality", timeout=300)
    assert cardinality.headers["x-total-count"] == "1" and len(cardinality.json()) == 1

    incident = httpx.get(f"{base}/api/v1/incident", params={"limit": 3}, timeout=300).json()
    assert len(incident["ranked"]) == 3 and incident["overflow"]["ranked"]["truncated"]

    # What a user sees on a bad page size: HTTP 400 naming the parameter.
    for params, words in (
        ({"limit": 0}, "limit must be between 1 and"),
        ({"limit": "many"}, "limit must be a whole number"),
        ({"offset": -3}, "offset must be 0 or more"),
    ):
        bad = httpx.get(f"{base}/api/v1/burn", params=params, timeout=300)
        assert bad.status_code == 400 and words in bad.json()["error"], bad.text


def test_pages_render_one_page_and_state_the_overflow(many):
    base = f"http://127.0.0.1:{many.http_port}"
    index = httpx.get(f"{base}/ui", params={"limit": 2}, timeout=300)
    assert index.status_code == 200
    assert "Showing 1-2 of 3 registered experiments" in index.text
    assert f"Showing 1-2 of {MANY:,} experiments seen only in telemetry" in index.text
    # Registered: many-5, reg-a; seen only, in id order: bad-0, many-0 (many-5 is not here).
    assert "/ui/experiments/bad-0" in index.text and "/ui/experiments/reg-a" in index.text
    assert index.text.count("/ui/experiments/many-") == 2
    later = httpx.get(f"{base}/ui", params={"limit": 2, "seen_offset": 4}, timeout=300).text
    assert f"Showing 5-6 of {MANY:,} experiments seen only in telemetry" in later

    burn = httpx.get(f"{base}/ui/burn", timeout=300)
    assert burn.status_code == 200 and "Showing 1-200 of " in burn.text
    assert burn.text.count("<tr") <= DEFAULT_LIMIT + 1  # header row plus one page
    incident = httpx.get(f"{base}/ui/incident", params={"limit": 10}, timeout=300)
    assert "experiment = variant arms, strongest evidence first" in incident.text
    assert "bad-0 = treatment" in incident.text
    # The chart of failed requests draws the arms that fail most, not 100,000 lines.
    assert 1 <= incident.text.count('<g class="series"') <= 7
    assert 'data-series="bad-0=treatment"' in incident.text
    later = httpx.get(f"{base}/ui/incident", params={"limit": 3, "offset": 3}, timeout=300).text
    assert "Top suspect: bad-0 = treatment" in later and "banner good" not in later
    assert "arms could not be weighed: their control has no request in scope (ranked last)" in later
    assert "Showing 4-6 of " in later
    past = httpx.get(f"{base}/ui/incident", params={"offset": 10**6}, timeout=300).text
    assert "Nothing from offset 1,000,000: there are " in past and "offset=" in past
    cardinality = httpx.get(f"{base}/ui/cardinality", timeout=300)
    assert cardinality.status_code == 200 and "Showing" not in cardinality.text


def test_cli_limits_and_says_the_list_was_cut(many, capsys):
    api = ["--api", f"http://127.0.0.1:{many.http_port}"]
    assert cli.main([*api, "burn", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "bad-0" in out and "showing 1-3 of " in out and "the list was cut" in out
    assert cli.main([*api, "incident", "--limit", "4", "--offset", "4"]) == 0
    out = capsys.readouterr().out
    assert "Ranked arms showing 5-8 of " in out
    # the suspect ranked first is named on every page, and this page's ranks are its own
    assert out.split("Not suspects")[0].count("bad-0") == 1
    assert "arms could not be weighed: their control has no request in scope (ranked last)." in out
    ranks = [line.split()[0] for line in out.split("Not suspects")[1].splitlines() if line]
    assert [r for r in ranks if r.isdigit()] == ["5", "6", "7", "8"]
    assert cli.main([*api, "--json", "incident", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["overflow"]["ranked"]["shown"] == 2
    assert "exptrace: showing 1-2 of " in captured.err and "the list was cut" in captured.err
    assert cli.main([*api, "incident", "--offset", "1000000"]) == 0
    assert "nothing from --offset 1000000: the list holds " in capsys.readouterr().out
    assert cli.main([*api, "--json", "burn", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count('"experiment"') == 2 and "the list was cut" in captured.err
    assert cli.main([*api, "seen", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "bad-0" in out and "many-0" in out and f"showing 1-2 of {MANY + 1}" in out
    assert cli.main([*api, "burn", "--limit", "0"]) == 2
    assert "limit must be between 1 and" in capsys.readouterr().err
