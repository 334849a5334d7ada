"""The numpy reference of the report's default path (``simstats.group_arm_stats``: unit
groups and log-bucket histograms) against the code and the engine it stands for, so the
simulations that judge thousands of its arms judge what users get.

What a user would see if these failed: simulated false-positive rates and power stated for a
path the report does not take.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from exptrace.query import Queries, Window
from exptrace.query.core.inference import QUANTILES, Boundary, error_rate_effect, quantile_effect
from exptrace.query.core.report import Report, _arm
from exptrace.query.core.unit_groups import GROUPS, RELATIVE_ERROR, arm_rows
from tests.query.simstats import (
    clustered,
    group_arm_stats,
    group_rows,
    int_hash64,
    unit_group,
)
from tests.query.synth import insert_clustered


def same_arm(got, want, rel=1e-9):
    """Every sum, quantile and bracket of two arms, floating sums to ``rel``."""
    assert (got.variant, got.units, got.requests, got.errors, got.clusters) == (
        want.variant,
        want.units,
        want.requests,
        want.errors,
        want.clusters,
    )
    assert (got.requests_sq, got.errors_sq, got.errors_m) == pytest.approx(
        (want.requests_sq, want.errors_sq, want.errors_m), rel=rel
    )
    for level, q in want.quantiles.items():
        mine = got.quantiles[level]
        assert mine.value == pytest.approx(q.value, rel=rel), level
        assert (mine.below, mine.below_sq, mine.below_m) == pytest.approx(
            (q.below, q.below_sq, q.below_m), rel=rel
        ), level
        assert mine.bracket == pytest.approx(q.bracket, rel=rel), level


@pytest.mark.parametrize("units", [150, 5000])
def test_the_vectorised_reference_is_arm_rows_on_the_group_rows(units):
    """Fewer units than a few per group, and many: ``group_arm_stats`` equals
    ``unit_groups.arm_rows`` (read by the report's ``_arm``) on the rows
    ``simstats.group_rows`` builds as ``sql/unit_groups.sql`` would, zero durations too."""
    traffic = clustered(np.random.default_rng(60), units=units)
    ms = np.where(np.arange(len(traffic.ms)) % 97 == 0, 0.0, traffic.ms)
    for number, name in ((0, "control"), (1, "treatment")):
        pick = traffic.arm == number
        unit, failed, latency = traffic.unit[pick], traffic.failed[pick], ms[pick]
        group = unit_group(unit)
        [row] = arm_rows(group_rows(name, unit, failed, latency, group))
        same_arm(group_arm_stats(name, unit, failed, latency, group), _arm(row))
        assert row["clusters"] == len(np.unique(group)) <= GROUPS


def test_the_groups_are_a_random_partition_of_the_units():
    """``intHash64`` spreads consecutive ids evenly: 64,000 units, about 1,000 per group."""
    counts = np.bincount(unit_group(np.arange(64_000)), minlength=GROUPS)
    assert counts.min() > 850 and counts.max() < 1150, (counts.min(), counts.max())


def test_the_engine_reads_the_groups_the_reference_builds(receiver):
    """The default report's arms (``report_groups.sql`` through ``arm_rows``) equal the
    reference's on the engine's own rows, its hash of each unit into groups included; the
    comparisons' p-values are the reference's; its quantiles are within the histogram's 2%
    of the exact path's."""
    store = receiver.store
    insert_clustered(store, units=1000, seed=5)  # p99 compared: 2,000 requests per arm
    rows = store.query(
        "SELECT Experiments['sim-0'] AS v, cityHash64(SpanAttributes['exptrace.unit']) AS u, "
        "intHash64(u) % 64 AS g, StatusCode = 'Error' AS f, Duration / 1e6 AS ms "
        "FROM otel_traces"
    ).dicts()
    window = Window.parse(last=dt.timedelta(hours=1))
    queries = Queries(store)
    report = queries.report("sim-0", window)
    exact = queries.report("sim-0", window, exact=True)
    built = Report(queries.engine, "sim-0", window)
    engine = {r["variant"]: _arm(r) for r in built._rows()[0]}
    reference = {}
    for variant in ("control", "treatment"):
        pick = [r for r in rows if r["v"] == variant]
        unit = np.array([r["u"] for r in pick], dtype=np.uint64)
        group = np.array([r["g"] for r in pick], dtype=np.int64)
        assert (unit_group(unit) == group).all()  # the engine's intHash64
        assert (int_hash64(unit) % np.uint64(GROUPS) == group.astype(np.uint64)).all()
        reference[variant] = group_arm_stats(
            variant,
            unit,
            np.array([bool(r["f"]) for r in pick]),
            np.array([r["ms"] for r in pick]),
            group,
        )
        same_arm(engine[variant], reference[variant], rel=1e-6)
    assert report["data"]["source"] != "exact" and exact["data"]["source"] == "exact"
    t, c = reference["treatment"], reference["control"]
    boundary = Boundary(queries.engine.method, queries.engine.alpha, queries.engine.tuning_units)
    want = [error_rate_effect(t, c, boundary)] + [
        quantile_effect(level, t, c, boundary) for level in QUANTILES
    ]
    [got] = report["comparisons"]
    [exact_comparison] = exact["comparisons"]
    assert (got["units"], got["requests"], got["errors"]) == (t.units, t.requests, t.errors)
    for metric, effect, exact_metric in zip(
        got["metrics"], want, exact_comparison["metrics"], strict=True
    ):
        assert metric["metric"] == effect.metric and effect.p_value is not None
        assert metric["p_value"] == pytest.approx(effect.p_value, rel=1e-6, abs=1e-12)
        assert metric["degrees_of_freedom"] == pytest.approx(effect.degrees_of_freedom, rel=1e-6)
        for side in ("treatment", "control"):
            assert metric[side] == pytest.approx(exact_metric[side], rel=RELATIVE_ERROR)
