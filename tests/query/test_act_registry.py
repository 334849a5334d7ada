"""Rollback, freeze and decisions: registry, HTTP API and CLI against a running receiver."""

import json
import re

import httpx

from exptrace.query.cli import commands as cli
from exptrace.query.core.decisions import DecisionLog
from exptrace.query.core.registry import Experiment, Registry
from tests.query.test_registry_api_cli import with_api

AUTH = {"authorization": "Bearer s3cret"}


def _api(make_receiver):
    server = make_receiver(with_api("s3cret"))
    return f"http://127.0.0.1:{server.http_port}", Registry(server.store)


def test_rollback_is_an_audit_entry_the_assignment_config_carries_with_an_etag(
    make_receiver, capsys
):
    base, registry = _api(make_receiver)
    registry.create(Experiment("checkout-v2", variants={"control": 1, "B": 1, "C": 1}), "ops")
    registry.start("checkout-v2", "ops")
    first = httpx.get(f"{base}/api/v1/assignments", headers=AUTH)
    assert first.status_code == 200 and first.headers["etag"]
    assert first.json()["experiments"]["checkout-v2"] == {
        "status": "running",
        "variants": {"control": 1.0, "B": 1.0, "C": 1.0},
        "control": "control",
        "rolled_back": [],
    }
    etag = first.headers["etag"]
    same = httpx.get(f"{base}/api/v1/assignments", headers={**AUTH, "if-none-match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert httpx.get(f"{base}/api/v1/assignments").status_code == 401  # a read, with the token

    rolled = httpx.post(
        f"{base}/api/v1/experiments/checkout-v2/rollback",
        headers={**AUTH, "x-exptrace-actor": "oncall"},
        json={"variant": "B", "reason": "errors up 3x"},
    )
    assert rolled.status_code == 200, rolled.text
    assert rolled.json() == {
        "experiment": "checkout-v2",
        "control": "control",
        "rolled_back": ["B"],
        "reason": "errors up 3x",
    }
    changed = httpx.get(f"{base}/api/v1/assignments", headers={**AUTH, "if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["experiments"]["checkout-v2"]["rolled_back"] == ["B"]
    [entry] = [h for h in registry.history("checkout-v2") if h["action"] == "rollback"]
    assert entry["actor"] == "oncall"
    assert json.loads(entry["old"]) == {"rolled_back": []}
    assert json.loads(entry["new"]) == {"rolled_back": ["B"], "reason": "errors up 3x"}

    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "experiments", "rollback", "checkout-v2", "--reason", "all"]) == 0
    assert "Rolled back C of checkout-v2" in capsys.readouterr().out
    assert cli.main([*api, "experiments", "history", "checkout-v2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"rollback\s+rolled_back\s+B -> B, C\s*\n\s+reason\s+- -> all", out), out
    page = httpx.get(f"{base}/ui/experiments/checkout-v2", headers=AUTH).text
    assert "rolled_back: B → B, C" in page and "reason: (none) → all" in page
    for body, status in (
        ({"reason": "all"}, 409),  # every treatment is rolled back already
        ({"variant": "control", "reason": "x"}, 400),
        ({"variant": "C"}, 400),  # no reason
    ):
        answer = httpx.post(
            f"{base}/api/v1/experiments/checkout-v2/rollback", headers=AUTH, json=body
        )
        assert answer.status_code == status, (body, answer.text)
    missing = httpx.post(
        f"{base}/api/v1/experiments/nope/rollback", headers=AUTH, json={"reason": "x"}
    )
    assert missing.status_code == 404


def test_freeze_refuses_starts_with_409_naming_it_and_logs_who_and_why(make_receiver, capsys):
    base, registry = _api(make_receiver)
    registry.create(Experiment("banner"), "ops")
    registry.create(Experiment("running"), "ops")
    registry.start("running", "ops")
    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "freeze", "--reason", "incident 42", "--actor", "alice"]) == 0
    assert "frozen since" in capsys.readouterr().out
    refused = httpx.post(f"{base}/api/v1/experiments/banner/start", headers=AUTH, json={})
    assert refused.status_code == 409
    assert "frozen" in refused.json()["error"] and "incident 42" in refused.json()["error"]
    running = httpx.get(f"{base}/api/v1/assignments", headers=AUTH).json()["experiments"]
    assert running["running"]["status"] == "running"  # a freeze stops nothing that runs
    assert cli.main([*api, "experiments", "start", "banner"]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "by alice: incident 42" in error
    assert (
        httpx.post(f"{base}/api/v1/freeze", headers=AUTH, json={"reason": "x"}).status_code == 409
    )
    assert httpx.post(f"{base}/api/v1/freeze", headers=AUTH, json={}).status_code == 400
    assert cli.main([*api, "unfreeze", "--reason", "resolved", "--actor", "bob"]) == 0
    capsys.readouterr()
    assert (
        httpx.post(f"{base}/api/v1/experiments/banner/start", headers=AUTH, json={}).status_code
        == 200
    )
    state = httpx.get(f"{base}/api/v1/freeze", headers=AUTH).json()
    assert state["frozen"] is False
    assert [(e["frozen"], e["actor"], e["reason"]) for e in state["log"]] == [
        (False, "bob", "resolved"),
        (True, "alice", "incident 42"),
    ]
    assert httpx.post(f"{base}/api/v1/unfreeze", headers=AUTH, json={}).status_code == 409


def test_decisions_are_logged_and_time_to_decision_counts_from_the_end(make_receiver, capsys):
    base, registry = _api(make_receiver)
    for experiment_id in ("ended", "waiting", "running"):
        registry.create(Experiment(experiment_id), "ops")
        registry.start(experiment_id, "ops")
    registry.stop("ended", "ops")
    registry.stop("waiting", "ops")
    registry.create(Experiment("early"), "ops")
    registry.start("early", "ops")
    DecisionLog(registry.store, registry).decide("early", "iterate", "clear already", "ops")
    registry.stop("early", "ops")
    api = ["--api", base, "--token", "s3cret"]
    assert cli.main([*api, "experiments", "decide", "ended", "ship", "--reason", "B wins"]) == 0
    assert "Decided ship for ended" in capsys.readouterr().out
    bad = httpx.post(
        f"{base}/api/v1/experiments/ended/decide", headers=AUTH, json={"decision": "maybe"}
    )
    assert bad.status_code == 400
    assert (
        httpx.post(
            f"{base}/api/v1/experiments/ghost/decide",
            headers=AUTH,
            json={"decision": "ship", "reason": "x"},
        ).status_code
        == 404
    )
    answer = httpx.get(f"{base}/api/v1/decisions", headers=AUTH).json()
    rows = {r["experiment"]: r for r in answer["experiments"]}
    assert set(rows) == {"ended", "waiting", "early"}  # running and undecided: no clock yet
    assert rows["ended"]["decision"] == "ship" and rows["ended"]["seconds"] >= 0
    assert rows["waiting"]["decision"] is None and rows["waiting"]["waiting_seconds"] >= 0
    assert rows["early"]["decision"] == "iterate" and rows["early"]["seconds"] == 0
    assert answer["decided"] == 2 and answer["pending"] == 1
    assert answer["average_seconds"] == rows["ended"]["seconds"] / 2
    assert cli.main([*api, "experiments", "decisions"]) == 0
    out = capsys.readouterr().out
    assert "average" in out and "1 ended without a decision" in out
    entries = DecisionLog(registry.store, registry).entries()
    assert [(e["experiment_id"], e["decision"], e["reason"]) for e in entries] == [
        ("early", "iterate", "clear already"),
        ("ended", "ship", "B wins"),
    ]
