"""Known truth through the real schema and the public API: users generated in the engine
(``synth.insert_clustered``), read back by ``Queries.report()``.

What a user would see if these failed: the report of an A/A test crying wolf, a broken
variant called inconclusive, a tail regression called "faster".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from exptrace.query import Queries, Window
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.statistics import sequential_srm_p_value
from tests.query.simstats import ALPHA, band
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
    print(f"\nA/A, always valid, one look: fail in {fails} of 40")
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


@pytest.mark.slow
@pytest.mark.parametrize("unit_share", [1.0, 0.5])
def test_aa_through_the_engine_at_one_look_keeps_alpha_with_full_or_half_unit_coverage(
    receiver, unit_share
):
    """200 user-randomized A/A experiments of 1,000 users (seed 25), read once with the
    fixed-horizon test: each metric's raw p-value and the sample-ratio check (chi-square and
    always valid, at 0.05 to make the rates visible) fall below alpha in at most the binomial
    band's upper end. With half the requests carrying no unit, those requests are left out
    and counted; before, each became a unit of its own: SRM 38%, errors 11%, latency 15%."""
    runs = 200
    insert_clustered(receiver.store, experiments=runs, units=1000, seed=25, unit_share=unit_share)
    registry = Registry(receiver.store)
    for i in range(runs):
        registry.create(Experiment(f"sim-{i}", variants={"control": 1, "treatment": 1}), "test")
    queries = Queries(receiver.store, method="fixed-horizon")
    window = Window.parse(last=LAST_HOUR)
    positives = dict.fromkeys(("error_rate", "latency_p50", "latency_p95", "latency_p99"), 0)
    tested = dict.fromkeys(positives, 0)
    srm = {"chi-square": 0, "always-valid": 0}
    for i in range(runs):
        report = queries.report(f"sim-{i}", window)
        unit = report["unit"]
        assert unit["analysis"] == "units" and unit["low_coverage"] == (unit_share < 1)
        assert unit["coverage"] == pytest.approx(unit_share, abs=0.05)
        assert (unit["unidentified_requests"] > 0) == (unit_share < 1)
        [c] = report["comparisons"]
        for m in c["metrics"]:
            tested[m["metric"]] += m["p_value"] is not None
            positives[m["metric"]] += m["p_value"] is not None and m["p_value"] < ALPHA
        check = report["sample_ratio"]
        assert sum(check["observed"].values()) == unit["identified_units"]
        srm["chi-square"] += check["p_value"] < ALPHA
        counts = list(check["observed"].values())
        srm["always-valid"] += sequential_srm_p_value(counts, [0.5, 0.5]) < ALPHA
    print(
        f"\nA/A, {unit_share:.0%} unit coverage, fixed horizon: {positives} of {tested}; "
        f"SRM at 0.05 of {runs}: {srm}"
    )
    for metric, count in positives.items():
        assert count <= band(tested[metric])[1], (metric, count, tested[metric])
    assert max(srm.values()) <= band(runs)[1], srm


@pytest.mark.slow
def test_a_three_times_worse_variant_of_a_9999_service_never_passes_through_the_engine(receiver):
    """20 experiments of 10,000 users (seed 26): control's users fail around 0.01% of their
    requests, treatment's three times as often. No report says ``pass``, with either method
    (non-inferiority within +20% of control's rate); before, an absolute margin of 0.1
    percentage point passed 17% (always valid) and 43% (fixed horizon) of them."""
    runs = 20
    insert_clustered(
        receiver.store,
        experiments=runs,
        units=10_000,
        seed=26,
        error_rate=0.0001,
        error_factor=3.0,
        prefix="rare-",
    )
    window = Window.parse(last=LAST_HOUR)
    decisions = {}
    for method in ("always-valid", "fixed-horizon"):
        queries = Queries(receiver.store, method=method)
        found = [queries.report(f"rare-{i}", window)["comparisons"][0] for i in range(runs)]
        decisions[method] = [c["decision"] for c in found]
        assert all(c["metrics"][0]["margin"] == 0.2 for c in found)
    counts = {method: Counter(ds) for method, ds in decisions.items()}
    print(f"\n3x worse at 0.01% errors, {runs} runs: {counts}")
    assert all(d != "pass" for ds in decisions.values() for d in ds), decisions
