"""Honest numbers: A/A keeps false positives near alpha, real effects are found, SRM fires when
it should, and the figures agree with an independent computation (scipy)."""

import datetime as dt
import random
import re
from pathlib import Path

import pytest
from scipy import stats as scipy_stats
from scipy.stats.contingency import relative_risk

from exptrace.query import Queries, Window
from exptrace.query.cli.commands import _slo
from exptrace.query.core.answers import json_safe
from exptrace.query.core.inference import (
    ArmStats,
    Boundary,
    error_rate_effect,
    normal_equivalent,
    t_multiplier,
)
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.report import MIN_UNITS
from exptrace.query.core.statistics import chi_square_sf, normal_quantile, sample_ratio_mismatch
from exptrace.query.errors import RegistryError
from exptrace.query.text import render
from tests.query.synth import experiment, send


@pytest.fixture
def queries(receiver):
    return Queries(receiver.store, Registry(receiver.store))


def test_aa_requests_without_a_unit_fall_back_to_requests_and_stay_calibrated(receiver):
    """Through the real receiver: 60 A/A experiments whose requests carry no unit id. The
    report says it fell back to requests; at one look (fixed horizon) each test's false
    positives stay in the binomial 99% band around alpha; always valid, below it."""
    rng = random.Random(2026)
    n_experiments = 60
    requests = []
    for i in range(n_experiments):
        requests += experiment(
            rng, f"aa-{i}", {"control": (240, 0.05, 50.0), "treatment": (240, 0.05, 50.0)}
        )
    send(receiver, requests)
    window = Window.parse(last=dt.timedelta(hours=1))
    fixed = Queries(receiver.store, method="fixed-horizon")
    positives = {"errors": 0, "p50": 0}
    for i in range(n_experiments):
        report = fixed.report(f"aa-{i}", window)
        assert report["unit"]["analysis"] == "requests"
        assert any("requests are analysed as if independent" in n for n in report["notes"])
        [comparison] = report["comparisons"]
        assert comparison["requests"] == 240 and comparison["control_requests"] == 240
        by_metric = {m["metric"]: m for m in comparison["metrics"]}
        positives["errors"] += by_metric["error_rate"]["p_value"] < 0.05
        positives["p50"] += by_metric["latency_p50"]["p_value"] < 0.05
    # Binomial(60, 0.05): the 99% band is [0, 8].
    assert positives["errors"] <= 8 and positives["p50"] <= 8, positives


def test_known_effect_is_detected_with_its_direction_and_medians(receiver, queries):
    """The default report reads unit groups: each median within the histogram's stated
    relative error of the exact one; ``exact=True`` gives the exact medians."""
    rng = random.Random(7)
    requests = experiment(rng, "effect", {"control": (1500, 0.02, 50.0), "B": (1500, 0.08, 65.0)})
    send(receiver, requests)
    Registry(receiver.store).create(
        Experiment("effect", variants={"control": 1, "B": 1}, control="control"), "test"
    )
    report = queries.report("effect", Window.parse())
    [c] = report["comparisons"]
    assert c["decision"] == "fail"
    assert c["verdict"].startswith("more errors, slower (p50 +")
    assert c["error_rate_diff_ci"][0] > 0  # the whole interval is above zero
    metrics = {m["metric"]: m for m in c["metrics"]}
    assert metrics["error_rate"]["guardrail_crossed"] and metrics["latency_p50"]["interval"][0] > 0
    durations = {
        v: sorted(round(r.duration_ms * 1e6) for r in requests if r.experiments["effect"] == v)
        for v in ("B", "control")
    }
    # quantileExact: the value at position floor(0.5 * n) of the sorted durations
    median = {v: durations[v][750] / 1e6 for v in durations}
    assert report["data"]["source"] == "unit groups"
    error = report["data"]["latency_relative_error"]
    assert c["median_ms"] == pytest.approx(median["B"], rel=error)
    assert c["control_median_ms"] == pytest.approx(median["control"], rel=error)
    exact = queries.report("effect", Window.parse(), exact=True)
    [e] = exact["comparisons"]
    assert exact["data"]["source"] == "exact" and e["decision"] == "fail"
    assert e["median_ms"] == pytest.approx(median["B"], rel=1e-7)
    assert e["control_median_ms"] == pytest.approx(median["control"], rel=1e-7)
    assert (e["units"], e["requests"], e["errors"]) == (c["units"], c["requests"], c["errors"])
    errors = {
        v: sum(r.error for r in requests if r.experiments["effect"] == v) for v in ("B", "control")
    }
    assert (c["errors"], c["control_errors"]) == (errors["B"], errors["control"])


def test_not_enough_data_below_the_minimum(receiver, queries):
    send(
        receiver,
        experiment(random.Random(1), "tiny", {"control": (5, 0.1, 50.0), "B": (5, 0.5, 90.0)}),
    )
    [c] = queries.report("tiny", Window.parse())["comparisons"]
    assert c["verdict"].startswith("not enough data") and c["decision"] == "inconclusive"
    assert "error_p_value" not in c


def test_sample_ratio_mismatch_fires_on_skew_and_not_on_a_fair_split(receiver, queries):
    rng = random.Random(3)
    registry = Registry(receiver.store)
    for name in ("skewed", "fair"):
        registry.create(Experiment(name, variants={"control": 50, "B": 50}), "test")
    send(
        receiver,
        experiment(rng, "skewed", {"control": (1100, 0.01, 50.0), "B": (900, 0.01, 50.0)})
        + experiment(rng, "fair", {"control": (1000, 0.01, 50.0), "B": (1000, 0.01, 50.0)}),
    )
    skewed = queries.report("skewed", Window.parse())["sample_ratio"]
    fair = queries.report("fair", Window.parse())["sample_ratio"]
    assert skewed["mismatch"] and skewed["method"] == "always-valid"
    assert skewed["chi_square_p_value"] == pytest.approx(scipy_stats.chisquare([1100, 900]).pvalue)
    # the always-valid p-value: the multinomial's likelihood over the Dirichlet mixture's
    mixture = scipy_stats.dirichlet_multinomial.pmf([1100, 900], [50.0, 50.0], 2000)
    assert skewed["p_value"] == pytest.approx(
        scipy_stats.multinomial.pmf([1100, 900], 2000, [0.5, 0.5]) / mixture
    )
    assert skewed["p_value"] > skewed["chi_square_p_value"]  # the price of looking any time
    assert not fair["mismatch"] and fair["p_value"] == pytest.approx(1.0)


@pytest.mark.parametrize("df", [1, 2, 5, 30])
@pytest.mark.parametrize("x", [0.001, 0.5, 3.0, 20.0, 80.0])
def test_chi_square_survival_matches_scipy(x, df):
    assert chi_square_sf(x, df) == pytest.approx(scipy_stats.chi2.sf(x, df), rel=1e-7, abs=1e-300)


@pytest.mark.parametrize("p", [1e-6, 0.01, 0.025, 0.3, 0.5, 0.975, 0.999999])
def test_normal_quantile_matches_scipy(p):
    assert normal_quantile(p) == pytest.approx(scipy_stats.norm.ppf(p), rel=1e-8, abs=1e-8)


def test_srm_needs_weights_and_traffic():
    assert sample_ratio_mismatch({}, {"a": 1, "b": 1}) is None
    assert sample_ratio_mismatch({"a": 5}, {"a": 1}) is None


@pytest.mark.parametrize(("a", "n1", "c", "n2"), [(60, 5000, 40, 5000), (7, 20000, 3, 18000)])
def test_the_relative_interval_is_katz_log_interval_for_independent_requests(a, n1, c, n2):
    """With one request per unit the delta method on the log ratio is Katz's interval of the
    relative risk (scipy), up to the sample variance's n / (n - 1)."""
    arms = [ArmStats(v, n, n, e, n, e, e) for v, n, e in (("B", n1, a), ("control", n2, c))]
    effect = error_rate_effect(*arms, Boundary("fixed-horizon", 0.05))
    katz = relative_risk(a, n1, c, n2).confidence_interval(0.95)
    ratios = [1 + bound for bound in effect.relative_interval]
    assert ratios == pytest.approx([katz.low, katz.high], rel=1e-3)
    assert effect.relative == pytest.approx(relative_risk(a, n1, c, n2).relative_risk - 1)


def test_every_registered_arm_has_a_row_and_the_fields_say_what_they_are(receiver, queries):
    """A registered arm with no traffic gets a cohort row, a comparison row and a note; the
    raw and the Holm-adjusted p-values sit side by side; the margins are the registry's;
    every field is in the README's field table."""
    Registry(receiver.store).create(
        Experiment(
            "arms",
            variants={"control": 1, "B": 1, "idle": 1},
            slo={"error_rate_margin": 0.5, "latency_margin": 0.1},
        ),
        "test",
    )
    rng = random.Random(11)
    send(receiver, experiment(rng, "arms", {"control": (800, 0.05, 50.0), "B": (800, 0.05, 50.0)}))
    report = queries.report("arms", Window.parse())
    assert report["min_units"] == MIN_UNITS and "min_requests" not in report
    assert report["margins"] == {"error_rate": 0.5, "latency": 0.1}
    assert [c["variant"] for c in report["cohorts"]] == ["B", "control", "idle"]
    idle = report["cohorts"][2]
    assert (idle["units"], idle["requests"], idle["error_rate"], idle["p50_ms"]) == (
        0,
        0,
        None,
        None,
    )
    b, empty = report["comparisons"]
    assert empty["variant"] == "idle" and empty["decision"] == "inconclusive"
    assert empty["verdict"] == "no traffic in 'idle': nothing to compare"
    assert "no traffic in registered variant 'idle'" in report["notes"]
    errors = next(m for m in b["metrics"] if m["metric"] == "error_rate")
    assert b["error_p_value"] == errors["p_value"]
    assert b["error_p_value_adjusted"] == errors["adjusted_p_value"] >= errors["p_value"]
    assert b["error_rate_relative_ci"] == errors["relative_interval"]
    assert errors["margin"] == 0.5
    latency = [m for m in b["metrics"] if m["metric"].startswith("latency")]
    assert b["latency_p_value"] == min(m["p_value"] for m in latency if m["p_value"] is not None)
    assert all(m["margin"] == 0.1 for m in latency)
    assert report["unit"]["analysis"] == "requests" and report["unit"]["low_coverage"]
    text = render.report(json_safe(report))
    assert "no traffic in 'idle'" in text and f"at least {MIN_UNITS} units per arm" in text
    fields = (Path(__file__).parents[2] / "README.md").read_text()
    fields = fields[fields.index("### The report's fields") :]
    fields = fields[: fields.index("\n### ")]
    documented = {
        word for quoted in re.findall(r"`([^`]+)`", fields) for word in re.findall(r"\w+", quoted)
    }
    keys = set(report) | set(b) | set(errors) | set(report["unit"]) | set(report["cohorts"][0])
    assert keys <= documented, keys - documented


def test_a_planned_horizon_switches_to_the_obrien_fleming_boundary_and_its_interval(
    receiver, queries
):
    """The same data, without and with ``expected_units`` in the registry: the report names
    the boundary and the information fraction, and at the plan the interval is the planned
    boundary's (``Boundary.multiplier`` standard errors, narrower than the mixture's), its
    p-value the same boundary's, so the interval excludes zero exactly when p < alpha."""
    rng = random.Random(8)
    send(
        receiver, experiment(rng, "plan", {"control": (2000, 0.02, 50.0), "B": (2000, 0.03, 52.0)})
    )
    registry = Registry(receiver.store)
    registry.create(Experiment("plan", variants={"control": 1, "B": 1}), "test")
    reports = [queries.report("plan", Window.parse())]
    registry.update("plan", "test", slo={"expected_units": 4000})
    reports.append(queries.report("plan", Window.parse()))
    mixture, planned = reports
    assert mixture["method"]["boundary"] == "mixture"
    assert mixture["method"]["information_fraction"] == {"B": None}
    assert planned["method"]["boundary"] == "obrien-fleming+mixture"
    assert planned["method"]["expected_units"] == 4000
    assert planned["method"]["information_fraction"] == {"B": 1.0}
    boundary = Boundary("always-valid", queries.engine.alpha, 4000, 4000)
    for before, after in zip(
        mixture["comparisons"][0]["metrics"], planned["comparisons"][0]["metrics"], strict=True
    ):
        low, high = after["interval"]
        assert high - low < before["interval"][1] - before["interval"][0], after["metric"]
        assert after["p_value"] <= before["p_value"], after["metric"]
        if after["metric"].startswith("latency"):
            df = after["degrees_of_freedom"]
            se = (high - low) / (2 * t_multiplier(boundary.multiplier(4000), df))
            z = normal_equivalent(after["estimate"] / se, df)
            assert after["p_value"] == pytest.approx(boundary.p_value(z, 4000), rel=1e-6)
            assert (low > 0 or high < 0) == (after["p_value"] < queries.engine.alpha)
    assert _slo("expected_units=20000") == ("expected_units", 20000.0)  # the README's flag
    with pytest.raises(RegistryError, match="expected_units"):
        registry.update("plan", "test", slo={"expected_units": 0})
