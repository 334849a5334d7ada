"""The watcher's gauges on /metrics and the Prometheus rule file in deploy/ that alerts on
them, checked and unit-tested by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query import Queries
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import Watcher
from exptrace.query.service.metrics import FAILING, LAST_ROUND
from exptrace.query.service.watcher import attach
from exptrace.query.web.http_api import api_routes
from tests.query.synth import insert_clustered
from tests.query.test_watch_api_cli import _until
from tests.query.test_watch_rounds import _running

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (.ci/run installs it)")
def test_promtool_checks_and_unit_tests_the_rule_file():
    for command in (
        ["check", "rules", "exptrace-rules.yml"],
        ["test", "rules", "exptrace-rules.test.yml"],
    ):
        done = subprocess.run(
            [PROMTOOL, *command], cwd=RULES, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    text = (RULES / "exptrace-rules.yml").read_text()
    assert FAILING in text and LAST_ROUND in text  # the rules read the gauges we expose


def test_metrics_show_each_rule_of_each_variant_as_a_gauge(make_receiver):
    def prepare(server):
        registry = Registry(server.store)
        watcher = Watcher(Queries(server.store, registry), registry)
        server.add_routes(
            api_routes(watcher.queries, registry, bearer_check(None), watcher=watcher)
        )
        attach(server, server.settings, watcher)

    server = make_receiver(prepare, watch_interval=0.2)
    insert_clustered(
        server.store, units=4000, seed=71, error_rate=0.01, error_factor=4.0, prefix="bad-"
    )
    _running(Registry(server.store), "bad-0")
    url = f"http://127.0.0.1:{server.http_port}/metrics"
    failing = (
        f'{FAILING}{{experiment="bad-0",variant="treatment",rule="error_rate",severity="page"}} 1'
    )
    text = _until(lambda: (lambda t: t if failing in t else None)(httpx.get(url).text))
    assert (
        f'{FAILING}{{experiment="bad-0",variant="treatment",rule="latency",severity="page"}} 0'
        in text
    )
    assert f'{FAILING}{{experiment="bad-0",variant="all",rule="srm",severity="ticket"}} 0' in text
    assert f"\n{LAST_ROUND} " in text
