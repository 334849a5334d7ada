"""The on-call and executive pages, over a failing variant the watcher rolls back and an A/A
experiment beside it."""

from __future__ import annotations

import html
import re

import httpx

from exptrace.query import Queries
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import Watcher
from tests.query.synth import insert_clustered
from tests.query.test_registry_api_cli import with_api
from tests.query.test_watch_rounds import _running


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_oncall_and_executive_views(make_receiver):
    server = make_receiver(with_api())
    base = f"http://127.0.0.1:{server.http_port}/ui"
    store = server.store
    insert_clustered(store, units=4000, seed=95, error_rate=0.01, error_factor=4.0, prefix="bad-")
    insert_clustered(store, units=4000, seed=96, prefix="aa-")
    registry = Registry(store)
    _running(registry, "bad-0", availability=0.999)
    _running(registry, "aa-0")
    watcher = Watcher(Queries(store, registry), registry)
    watcher.round()

    oncall = _text(httpx.get(f"{base}/oncall").text)
    assert "2 experiments in production; 2 rules firing" in oncall
    breaches = oncall.split("Breaches")[1].split("Running experiments")[0]
    assert "bad-0" in breaches and "error_rate" in breaches and "burn_page" in breaches
    assert "aa-0" not in breaches
    burn = oncall.split("Error-budget burn by experiment")[1].split("Recent rollbacks")[0]
    assert re.search(r"bad-0\s+treatment\s+[\d.]+x\s+[\d.]+x\s+[\d.]+x\s+page", burn), burn

    registry.set_policy("bad-0", "rollback", "oncall")
    watcher.round()
    oncall = _text(httpx.get(f"{base}/oncall").text)
    rollbacks = oncall.split("Recent rollbacks")[1].split("Recent alerts")[0]
    assert "bad-0" in rollbacks and "watcher" in rollbacks and "treatment" in rollbacks
    alerts = oncall.split("Recent alerts")[1]
    assert "error_rate" in alerts and "fail" in alerts

    executive = _text(httpx.get(f"{base}/executive").text)
    assert "active experiments 2 of 2 registered" in executive
    assert "decided: rollback 1" in executive and "decided: ship 0" in executive
    impact = executive.split("SLO impact by experiment")[1]
    assert impact.index("bad-0") < impact.index("aa-0")  # the largest excess first
