"""The report's default window is the experiment's whole run, in the API, the CLI and the
pages; a custom window is still there and says it asks a different question."""

from __future__ import annotations

import datetime as dt
import html

import httpx

from exptrace.query.cli import commands as cli
from exptrace.query.core.registry import Experiment, Registry
from tests.query.synth import insert_clustered
from tests.query.test_registry_api_cli import with_api

AUTH = {"authorization": "Bearer s3cret"}
RUN = "the experiment's whole run, from the minute it started"


def test_the_default_window_is_the_whole_run_and_a_custom_one_says_so(make_receiver, capsys):
    server = make_receiver(with_api("s3cret"))
    base = f"http://127.0.0.1:{server.http_port}"
    # users over the last ~2 hours: about half of them older than one hour
    insert_clustered(server.store, units=600, seed=51, ago_ms=7_000_000, prefix="run-")
    registry = Registry(server.store)
    registry.create(Experiment("run-0", variants={"control": 1, "treatment": 1}), "t")
    registry.start("run-0", "t")
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    registry.update("run-0", "t", start_time=started)

    whole = httpx.get(f"{base}/api/v1/report/run-0", headers=AUTH).json()
    assert whole["window"]["scope"] == "run" and whole["window"]["means"] == RUN
    assert whole["window"]["start"].startswith(started[:16] + ":00")  # from its minute
    assert whole["unit"]["units"] == 600
    hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    custom = httpx.get(f"{base}/api/v1/report/run-0", params={"from": hour_ago}, headers=AUTH)
    window = custom.json()["window"]
    assert window["scope"] == "custom" and "a different question" in window["means"]
    assert 0 < custom.json()["unit"]["units"] < 600

    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "report", "run-0"]) == 0
    assert f"Window: {RUN}" in capsys.readouterr().out
    assert cli.main([*api, "report", "run-0", "--last", "1h"]) == 0
    assert "Window: a custom window: a different question" in capsys.readouterr().out

    page = html.unescape(httpx.get(f"{base}/ui/experiments/run-0", headers=AUTH).text)
    assert f'<div class="banner info">Window: {RUN}</div>' in page and "<b>run</b>" in page
    sliding = html.unescape(httpx.get(f"{base}/ui/experiments/run-0?last=1h", headers=AUTH).text)
    assert '<div class="banner warn">Window: a custom window' in sliding
    assert "<b>1h</b>" in sliding


def test_after_a_rollback_the_run_is_analysed_up_to_the_rollback(make_receiver, monkeypatch):
    """After a rollback the rolled-back variant's users are sent to control: counting them
    there would double units and flag a sample-ratio mismatch the rollback caused. The run's
    report stops at the first rollback and says so; a window past it says it is not a
    randomized comparison there."""
    from exptrace.query.core import registry as registry_module

    server = make_receiver(with_api("s3cret"))
    base = f"http://127.0.0.1:{server.http_port}"
    insert_clustered(server.store, units=600, seed=52, ago_ms=7_000_000, prefix="rb-")
    registry = Registry(server.store)
    registry.create(Experiment("rb-0", variants={"control": 1, "treatment": 1}), "t")
    registry.start("rb-0", "t")
    now = dt.datetime.now(dt.UTC)
    started = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    registry.update("rb-0", "t", start_time=started)
    rolled = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.000")
    monkeypatch.setattr(registry_module, "_now", lambda: rolled)
    registry.rollback("rb-0", "treatment", "errors up", "oncall")

    run = httpx.get(f"{base}/api/v1/report/rb-0", headers=AUTH).json()
    assert run["window"]["scope"] == "run" and run["window"]["end"].startswith(rolled[:19])
    assert run["rolled_back_at"].startswith(rolled[:19])
    assert any(n.startswith(f"rolled back at {rolled[:19]} UTC") for n in run["notes"])
    before = httpx.get(
        f"{base}/api/v1/report/rb-0", params={"from": started, "to": rolled}, headers=AUTH
    ).json()
    assert 0 < run["unit"]["units"] == before["unit"]["units"] < 600
    past = httpx.get(f"{base}/api/v1/report/rb-0", params={"from": started}, headers=AUTH).json()
    assert past["unit"]["units"] == 600
    assert any("runs past the rollback" in n for n in past["notes"])
