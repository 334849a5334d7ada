"""Rollout gates against real answers: the Argo Rollouts AnalysisTemplate in deploy/ (its
jsonPath and conditions, evaluated as Argo does) and Flagger's webhooks with Flagger's body."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx

from exptrace.query import Queries
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import Finding, Watcher
from tests.query.synth import insert_clustered
from tests.query.test_registry_api_cli import with_api
from tests.query.test_watch_rounds import _running

AUTH = {"authorization": "Bearer s3cret"}
TEMPLATE = Path(__file__).parents[2] / "deploy" / "argo-rollouts" / "analysis-template.yaml"


def argo_measurement(template: str, answer: dict) -> str:
    """What Argo's web provider makes of ``answer``: the value at the template's jsonPath,
    then Successful / Failed / Inconclusive by its success and failure conditions."""
    path = re.search(r'jsonPath: "\{\$\.(\w+)\}"', template).group(1)
    result = answer[path]
    success = re.search(r'successCondition: result == "(\w+)"', template).group(1)
    failure = re.search(r'failureCondition: result == "(\w+)"', template).group(1)
    if result == success:
        return "Successful"
    if result == failure:
        return "Failed"
    return "Inconclusive"


def test_argo_and_flagger_gates_answer_from_the_watchers_truth(make_receiver):
    server = make_receiver(with_api("s3cret"))
    base = f"http://127.0.0.1:{server.http_port}/api/v1/gates"
    store = server.store
    insert_clustered(store, units=4000, seed=81, error_rate=0.01, error_factor=4.0, prefix="bad-")
    insert_clustered(store, units=4000, seed=82, prefix="aa-")
    registry = Registry(store)
    for experiment_id in ("bad-0", "aa-0", "ok-0"):
        _running(registry, experiment_id)
    watcher = Watcher(Queries(store, registry), registry)
    template = TEMPLATE.read_text()

    def argo(experiment: str) -> str:
        answer = httpx.get(f"{base}/argo/{experiment}?variant=treatment", headers=AUTH)
        assert answer.status_code == 200, answer.text
        return argo_measurement(template, answer.json())

    def flagger(hook: str, experiment: str) -> int:
        body = {
            "name": "checkout",
            "namespace": "prod",
            "phase": "Progressing",
            "checksum": "6d4c5c8b",
            "type": hook,
            "metadata": {"experiment": experiment, "variant": "treatment"},
        }
        return httpx.post(f"{base}/flagger/{hook}", headers=AUTH, json=body).status_code

    assert argo("bad-0") == "Inconclusive"  # no round yet: keep waiting
    watcher.round()
    # a variant that passes every rule, as the watcher would have stored it after the round
    # (which found its registered arm without traffic: inconclusive)
    watcher._write(
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        [
            Finding("ok-0", v, r, "pass", {})
            for v, r in (("treatment", "error_rate"), ("treatment", "latency"), ("", "srm"))
        ],
    )
    assert (argo("bad-0"), argo("aa-0"), argo("ok-0")) == ("Failed", "Inconclusive", "Successful")
    hooks = ("confirm-rollout", "rollout", "confirm-promotion", "rollback")
    assert [flagger(h, "bad-0") for h in hooks] == [412, 412, 412, 200]
    assert [flagger(h, "aa-0") for h in hooks] == [200, 200, 412, 412]
    assert [flagger(h, "ok-0") for h in hooks] == [200, 200, 200, 412]
    registry.freeze("oncall", "incident 42")
    frozen = httpx.post(
        f"{base}/flagger/confirm-rollout",
        headers=AUTH,
        json={"name": "c", "namespace": "p", "metadata": {"experiment": "ok-0"}},
    )
    assert frozen.status_code == 412 and "incident 42" in frozen.json()["reason"]

    assert httpx.get(f"{base}/argo/nope", headers=AUTH).status_code == 404
    assert httpx.get(f"{base}/argo/bad-0?variant=control", headers=AUTH).status_code == 400
    assert (
        httpx.post(
            f"{base}/flagger/promote", headers=AUTH, json={"metadata": {"experiment": "ok-0"}}
        ).status_code
        == 400
    )
    assert (
        httpx.post(f"{base}/flagger/rollout", headers=AUTH, json={"metadata": {}}).status_code
        == 400
    )
