"""Experiment-caused burn through the real schema: the service's own errors page nobody,
control never pages, a variant's excess pages or tickets, short data says so, tiny cohorts
stay quiet."""

from __future__ import annotations

import random
import re

import httpx

from exptrace.query import Queries
from exptrace.query.core.burn import min_requests
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.text import render
from tests.query.synth import experiment, send
from tests.query.test_registry_api_cli import with_api


def test_only_a_variants_excess_over_control_burns(make_receiver):
    receiver = make_receiver(with_api())
    rng = random.Random(7)
    registry = Registry(receiver.store)
    for experiment_id in ("shared", "hot", "tiny", "slow"):
        registry.create(Experiment(experiment_id, variants={"control": 1, "B": 1}), "sre")
    spans = experiment(
        rng, "shared", {"control": (2000, 0.05, 30), "B": (2000, 0.05, 30)}, ago_seconds=7200
    )
    spans += experiment(
        rng, "hot", {"control": (600, 0.001, 30), "B": (600, 0.3, 30)}, ago_seconds=1500
    )
    spans += experiment(rng, "tiny", {"control": (3, 0.0, 30), "B": (3, 1.0, 30)}, ago_seconds=600)
    spans += experiment(
        rng, "slow", {"control": (10000, 0.001, 30), "B": (10000, 0.004, 30)}, ago_seconds=25200
    )
    send(receiver, spans)
    rows = Queries(receiver.store, registry).burn_rates()
    by = {(r["experiment"], r["variant"]): r for r in rows}

    shared = by[("shared", "B")]
    assert shared["burn_rates"]["1h"] > 14.4  # the service burns: 5% errors against 0.1%
    assert shared["status"] == "ok" and abs(shared["excess_burn_rates"]["1h"]) < 14.4
    assert {r["status"] for r in rows if r["variant"] == "control"} == {"control"}

    hot = by[("hot", "B")]
    assert hot["status"] == "page" and hot["reason"] == "page when 1h and 5m both exceed 14.4x"
    low, high = hot["excess_intervals"]["5m"]
    assert 14.4 < low < hot["excess_burn_rates"]["5m"] < high
    assert hot["covered"] == {"5m": True, "30m": False, "1h": False, "6h": False, "3d": False}
    assert 1400 < hot["data_seconds"] < 1800
    order = [(r["experiment"], r["variant"]) for r in rows]  # the largest excess first
    assert order[:2] == [("tiny", "B"), ("hot", "B")]  # tiny: the largest, but too few

    tiny = by[("tiny", "B")]
    assert tiny["requests"]["5m"] < min_requests(14.4, 0.001) == 38
    assert tiny["status"] == "ok" and tiny["min_requests"] == {"5m": 38, "30m": 214, "6h": 7684}

    slow = by[("slow", "B")]
    assert slow["status"] == "ticket" and slow["reason"] == "ticket when 3d and 6h both exceed 1x"

    text = render.burn(rows)
    assert "control never pages; *: less data than the window" in text
    [hot_line] = [line for line in text.splitlines() if line.startswith("hot ") and " B " in line]
    assert "*" in hot_line and "PAGE" in hot_line
    # too few requests for any window: not a green OK, but not judged, with the reason
    lines = {line.split()[0]: line for line in text.splitlines() if " B " in line}
    assert lines["tiny"].rstrip().endswith("NOT JUDGED") and lines["shared"].rstrip().endswith("OK")

    page = httpx.get(f"http://127.0.0.1:{receiver.http_port}/ui/burn").text
    [hot_row] = [row for row in page.split("<tr") if ">hot<" in row and ">B<" in row]
    assert re.search(r"\(2\d min of data\)", hot_row), hot_row  # 1h: only ~25 minutes
    [tiny_row] = [row for row in page.split("<tr") if ">tiny<" in row and ">B<" in row]
    assert '<span class="badge ">not judged</span>' in tiny_row, tiny_row  # grey, not green
    assert "too few requests" in tiny_row, tiny_row
    # a banner for each arm that pages or tickets, none for control (it never pages)
    banners = re.findall(r'<div class="banner[^"]*">(.*?)</div>', page)
    burning = [b for b in banners if "burns its error budget" in b]
    assert burning and all("CONTROL" not in b for b in burning), burning
