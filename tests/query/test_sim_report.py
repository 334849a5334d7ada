"""Known truth through the real schema and the public API: users generated in the engine
(``synth.insert_clustered``), read back by ``Queries.report()``.

What a user would see if these failed: the report of an A/A test crying wolf, a broken
variant called inconclusive, a tail regression called "faster".
"""

from __future__ import annotations

import datetime as dt

from exptrace.query.api import Queries, Window
from exptrace.query.registry import Experiment, Registry
from tests.query.synth import insert_clustered

LAST_HOUR = dt.timedelta(hours=1)


def test_clustered_aa_through_the_engine_stays_quiet_and_names_the_unit(receiver):
    """40 user-randomized A/A experiments with heavy users; every one is analysed per unit,
    and the always-valid report fails none of them (binomial 99% band at alpha: <= 6)."""
    insert_clustered(receiver.store, experiments=40, units=400, seed=21)
    queries = Queries(receiver.store)
    window = Window.parse(last=LAST_HOUR)
    fails = 0
    for i in range(40):
        report = queries.report(f"sim-{i}", window)
        assert report["unit"]["analysis"] == "units"
        assert report["method"]["name"] == "always-valid"
        [c] = report["comparisons"]
        assert c["decision"] in ("fail", "pass", "inconclusive")
        assert (c["unit"], c["method"]) == ("units", "always-valid")
        assert c["units"] + c["control_units"] == 400
        fails += c["decision"] == "fail"
    assert fails <= 6, fails


def test_a_hundred_times_worse_variant_fails_and_srm_counts_users(receiver):
    """Control fails 0.01% of requests, treatment 1%: decided "fail" with "more errors";
    the sample-ratio check counts users, so heavy users do not fake a mismatch."""
    insert_clustered(
        receiver.store,
        units=10_000,
        seed=22,
        error_rate=0.0001,
        error_factor=100.0,
        prefix="worse-",
    )
    Registry(receiver.store).create(
        Experiment("worse-0", variants={"control": 1, "treatment": 1}), "test"
    )
    report = Queries(receiver.store).report("worse-0", Window.parse(last=LAST_HOUR))
    [c] = report["comparisons"]
    assert c["decision"] == "fail" and c["verdict"].startswith("more errors"), c["verdict"]
    errors = next(m for m in c["metrics"] if m["metric"] == "error_rate")
    assert errors["guardrail_crossed"] and errors["interval"][0] > 0
    srm = report["sample_ratio"]
    assert srm["unit"] == "units" and sum(srm["observed"].values()) == 10_000
    assert not srm["mismatch"], srm


def test_a_tail_only_regression_reads_slower(receiver):
    """Treatment adds 50 ms to requests slower than about control's p60 (60 ms here)."""
    insert_clustered(
        receiver.store, units=6000, seed=23, tail_above_ms=60.0, tail_ms=50.0, prefix="tail-"
    )
    [c] = Queries(receiver.store).report("tail-0", Window.parse(last=LAST_HOUR))["comparisons"]
    assert "slower" in c["verdict"] and "faster" not in c["verdict"], c["verdict"]
    p95 = next(m for m in c["metrics"] if m["metric"] == "latency_p95")
    assert p95["direction"] == "worse" and p95["interval"][0] > 0


def test_fixed_horizon_is_available_for_a_pre_registered_end(receiver):
    insert_clustered(receiver.store, units=3000, seed=24, error_factor=1.5, prefix="fh-")
    window = Window.parse(last=LAST_HOUR)
    fixed = Queries(receiver.store, method="fixed-horizon").report("fh-0", window)
    always = Queries(receiver.store).report("fh-0", window)
    [f], [a] = fixed["comparisons"], always["comparisons"]
    width = [m["interval"][1] - m["interval"][0] for m in (f["metrics"][0], a["metrics"][0])]
    assert width[0] < width[1]  # the price of looking at any time
    assert fixed["method"]["name"] == "fixed-horizon"
