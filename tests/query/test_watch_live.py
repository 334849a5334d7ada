"""The whole loop, live: a real `exptrace up` (its own process) with a real Alertmanager. A
variant that fails pages exactly once, is rolled back under the `rollback` policy, the alert
resolves and the decision is logged; the gates answer fail meanwhile; an A/A experiment in
the same run raises nothing."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.query.exptrace_cli import Server, exptrace
from tests.query.synth import experiment
from tests.query.test_alerts_alertmanager import alertmanager  # noqa: F401 (a fixture)
from tests.query.test_watch_api_cli import _until


@pytest.mark.slow
def test_up_pages_once_rolls_back_resolves_and_logs_while_an_aa_stays_quiet(
    tmp_path,
    alertmanager,  # noqa: F811 (the fixture imported above)
):
    am_url, hook = alertmanager
    server = Server(
        tmp_path / "data",
        "--watch-interval",
        "0.5",
        "--alertmanager",
        am_url,
        "--external-url",
        "https://exptrace.example",
        EXPTRACE_ALERT_INTERVAL="0.5",
    ).start()
    try:
        api = ["--api", server.url]
        for experiment_id in ("bad-live", "aa-live"):
            created = exptrace(
                *api, "experiments", "create", experiment_id, "--variant", "control=1",
                "--variant", "B=1", "--scope", "checkout",
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
        assert exptrace(*api, "experiments", "policy", "bad-live", "rollback").returncode == 0
        for experiment_id in ("bad-live", "aa-live"):
            assert exptrace(*api, "experiments", "start", experiment_id).returncode == 0
        rng = random.Random(91)
        # stamped from now on, after the starts: inside the experiments' runs
        _until(lambda: httpx.get(f"{server.url}/api/v1/watch").json()["last_round"])
        spans = experiment(
            rng, "bad-live", {"control": (1500, 0.01, 50), "B": (1500, 0.2, 50)}, ago_seconds=0.001
        )
        spans += experiment(
            rng, "aa-live", {"control": (1500, 0.05, 50), "B": (1500, 0.05, 50)}, ago_seconds=0.001
        )
        server.send(spans)

        def gate() -> str:
            return httpx.get(f"{server.url}/api/v1/gates/argo/bad-live?variant=B").json()["result"]

        [page] = _until(lambda: [b for b in hook.bodies if b["status"] == "firing"], 180)
        assert gate() == "fail"
        [alert] = page["alerts"]
        assert {
            k: alert["labels"][k] for k in ("experiment", "variant", "service", "severity")
        } == {
            "experiment": "bad-live",
            "variant": "B",
            "service": "checkout",
            "severity": "page",
        }
        assert alert["annotations"]["link"] == "https://exptrace.example/ui/experiments/bad-live"

        def rolled_back():
            answer = httpx.get(f"{server.url}/api/v1/assignments").json()
            return answer["experiments"]["bad-live"]["rolled_back"]

        assert _until(rolled_back, 120) == ["B"]
        _until(lambda: [b for b in hook.bodies if b["status"] == "resolved"], 120)
        assert gate() == "fail"  # rolled back: never promote it
        decisions = httpx.get(f"{server.url}/api/v1/decisions").json()["experiments"]
        [decided] = [d for d in decisions if d["experiment"] == "bad-live"]
        assert (decided["decision"], decided["decided_by"]) == ("rollback", "watcher")

        state = httpx.get(f"{server.url}/api/v1/watch?experiment=aa-live").json()
        assert state["state"] and state["firing"] == []
        statuses = [
            (b["status"], a["labels"]["experiment"]) for b in hook.bodies for a in b["alerts"]
        ]
        assert statuses == [("firing", "bad-live"), ("resolved", "bad-live")]
    finally:
        server.stop()
    # alone, against the store the server left: the same truth, nothing new to say
    alone = exptrace("watch", "--once", "--data-dir", str(tmp_path / "data"))
    assert alone.returncode == 0, alone.stderr
    assert "2 running experiments, 0 changes" in alone.stdout
