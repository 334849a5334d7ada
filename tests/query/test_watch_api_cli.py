"""The watcher as people reach it: a loop beside the receiver, the HTTP API and the CLI."""

from __future__ import annotations

import json
import time

import httpx

from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query import Queries
from exptrace.query.cli import commands as cli
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import Watcher, WatchLoop
from exptrace.query.web.http_api import api_routes
from tests.query.synth import insert_clustered
from tests.query.test_watch_rounds import _running

AUTH = {"authorization": "Bearer s3cret"}


def _until(condition, deadline: float = 120.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_loop_api_and_cli_read_and_act_on_one_truth(make_receiver, capsys):
    def prepare(server):
        registry = Registry(server.store)
        watcher = Watcher(Queries(server.store, registry), registry)
        server.add_routes(
            api_routes(watcher.queries, registry, bearer_check("s3cret"), watcher=watcher)
        )
        server.add_task(WatchLoop(watcher.round, 0.2))

    server = make_receiver(prepare)
    base = f"http://127.0.0.1:{server.http_port}"
    insert_clustered(
        server.store, units=4000, seed=41, error_rate=0.01, error_factor=4.0, prefix="bad-"
    )
    registry = Registry(server.store)
    _running(registry, "bad-0")

    def firing():
        answer = httpx.get(f"{base}/api/v1/watch", headers=AUTH).json()
        return answer["firing"]

    [alert] = _until(firing)  # the loop found it on its own
    assert (alert["experiment"], alert["variant"], alert["rule"]) == (
        "bad-0",
        "treatment",
        "error_rate",
    )

    refused = httpx.post(
        f"{base}/api/v1/experiments/bad-0/policy", headers=AUTH, json={"policy": "page"}
    )
    assert refused.status_code == 400 and "notify, rollback" in refused.json()["error"]
    missing = httpx.post(
        f"{base}/api/v1/experiments/nope/policy", headers=AUTH, json={"policy": "rollback"}
    )
    assert missing.status_code == 404
    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "experiments", "policy", "bad-0", "rollback", "--actor", "ann"]) == 0
    assert "Watch policy of bad-0: rollback" in capsys.readouterr().out
    [entry] = [h for h in registry.history("bad-0") if h["action"] == "policy"]
    assert entry["actor"] == "ann" and json.loads(entry["new"]) == {"policy": "rollback"}

    _until(lambda: registry.rollbacks().get("bad-0") == ["treatment"])
    _until(lambda: not firing())  # rolled back: the alert resolves

    assert cli.main([*api, "watch", "--once"]) == 0
    assert "1 running experiments, 0 changes" in capsys.readouterr().out
    assert cli.main([*api, "watch", "state", "--experiment", "bad-0"]) == 0
    out = capsys.readouterr().out
    assert "rolled_back" in out and "0 firing; last round" in out
    assert cli.main([*api, "watch", "history", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("bad-0") == 2
    history = httpx.get(f"{base}/api/v1/watch/history?experiment=bad-0", headers=AUTH)
    states = [(r["rule"], r["state"]) for r in history.json()]
    assert ("error_rate", "fail") in states and ("error_rate", "rolled_back") in states
    assert int(history.headers["x-total-count"]) == len(states)


def test_up_takes_the_watch_interval_from_its_flag_or_the_environment(monkeypatch):
    from exptrace.ingest.cli import settings_from_args
    from exptrace.ingest.settings import IngestSettings
    from exptrace.propagation.settings import SettingsError

    assert IngestSettings().watch_interval == 60.0
    assert IngestSettings().alert_interval == 10.0
    assert cli.make_parser().parse_args(["watch"]).every.total_seconds() == 60
    flags = cli.make_parser().parse_args(
        [
            "up",
            "--alertmanager",
            "http://am:9093",
            "--alert-webhook",
            "http://hook/",
            "--external-url",
            "https://x",
        ]
    )
    given = settings_from_args(flags)
    assert (given.alertmanager_url, given.alert_webhook_url, given.external_url) == (
        "http://am:9093",
        "http://hook/",
        "https://x",
    )
    monkeypatch.setenv("EXPTRACE_ALERTMANAGER_URL", "http://am2:9093")
    monkeypatch.setenv("EXPTRACE_ALERT_WEBHOOK_URL", "http://hook2/")
    from_env = settings_from_args(cli.make_parser().parse_args(["up"]))
    assert (from_env.alertmanager_url, from_env.alert_webhook_url) == (
        "http://am2:9093",
        "http://hook2/",
    )
    off = settings_from_args(cli.make_parser().parse_args(["up", "--watch-interval", "0"]))
    assert off.watch_interval == 0.0
    monkeypatch.setenv("EXPTRACE_WATCH_INTERVAL", "5")
    assert settings_from_args(cli.make_parser().parse_args(["up"])).watch_interval == 5.0
    try:
        IngestSettings(watch_interval=-1)
    except SettingsError as error:
        assert "--watch-interval / EXPTRACE_WATCH_INTERVAL must be 0 (off)" in str(error)
    else:
        raise AssertionError("a negative interval was taken")
