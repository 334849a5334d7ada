"""Honest numbers: A/A keeps false positives near alpha, real effects are found, SRM fires when
it should, and the figures agree with an independent computation (scipy)."""

import datetime as dt
import random

import pytest
from scipy import stats as scipy_stats

from exptrace.query.api import Queries, Window
from exptrace.query.registry import Experiment, Registry
from exptrace.query.statistics import chi_square_sf, normal_quantile, sample_ratio_mismatch
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


def test_known_effect_is_detected_with_its_direction_and_exact_medians(receiver, queries):
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
    assert c["median_ms"] == pytest.approx(durations["B"][750] / 1e6, rel=1e-7)
    assert c["control_median_ms"] == pytest.approx(durations["control"][750] / 1e6, rel=1e-7)
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
