"""Honest numbers: A/A keeps false positives near alpha, real effects are found, SRM fires when
it should, and the figures agree with an independent computation (scipy)."""

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


def test_aa_experiments_keep_the_false_positive_rate_near_alpha(receiver, queries):
    rng = random.Random(2026)
    n_experiments = 150
    requests = []
    for i in range(n_experiments):
        requests += experiment(
            rng, f"aa-{i}", {"control": (240, 0.05, 50.0), "treatment": (240, 0.05, 50.0)}
        )
    send(receiver, requests)
    window = Window.parse(last=__import__("datetime").timedelta(hours=1))
    error_positives = latency_positives = 0
    for i in range(n_experiments):
        [comparison] = queries.report(f"aa-{i}", window)["comparisons"]
        assert comparison["requests"] == 240 and comparison["control_requests"] == 240
        error_positives += comparison["error_p_value"] < 0.05
        latency_positives += comparison["latency_p_value"] < 0.05
    # Binomial(150, 0.05): mean 7.5, sd 2.7; these bounds hold with probability > 0.99.
    assert 1 <= error_positives <= 16, error_positives
    assert 1 <= latency_positives <= 16, latency_positives


def test_known_effect_is_detected_and_matches_scipy(receiver, queries):
    rng = random.Random(7)
    requests = experiment(rng, "effect", {"control": (1500, 0.02, 50.0), "B": (1500, 0.08, 65.0)})
    send(receiver, requests)
    Registry(receiver.store).create(
        Experiment("effect", variants={"control": 1, "B": 1}, control="control"), "test"
    )
    report = queries.report("effect", Window.parse())
    [c] = report["comparisons"]
    assert c["verdict"] == "more errors, slower"
    assert c["error_rate_diff_ci"][0] > 0  # the whole interval is above zero

    # Independent computation of the same tests on the same requests.
    errors = {
        v: sum(r.error for r in requests if r.experiments["effect"] == v) for v in ("B", "control")
    }
    p_t, p_c = errors["B"] / 1500, errors["control"] / 1500
    se = ((p_t * (1 - p_t) + p_c * (1 - p_c)) / 1500) ** 0.5
    z = (p_t - p_c) / se
    assert c["error_p_value"] == pytest.approx(2 * scipy_stats.norm.sf(abs(z)), rel=1e-6)
    assert c["error_rate_diff_ci"][0] == pytest.approx(
        p_t - p_c - scipy_stats.norm.ppf(0.975) * se, rel=1e-6
    )
    durations = {
        v: [round(r.duration_ms * 1e6) for r in requests if r.experiments["effect"] == v]
        for v in ("B", "control")
    }
    expected = scipy_stats.mannwhitneyu(
        durations["B"],
        durations["control"],
        alternative="two-sided",
        use_continuity=False,
        method="asymptotic",
    ).pvalue
    assert c["latency_p_value"] == pytest.approx(expected, rel=1e-3)
    assert c["median_ms"] == pytest.approx(sorted(durations["B"])[750] / 1e6, rel=0.01)


def test_not_enough_data_below_the_minimum(receiver, queries):
    send(
        receiver,
        experiment(random.Random(1), "tiny", {"control": (50, 0.1, 50.0), "B": (50, 0.5, 90.0)}),
    )
    [c] = queries.report("tiny", Window.parse())["comparisons"]
    assert c["verdict"].startswith("not enough data") and "error_p_value" not in c


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
    assert skewed["mismatch"] and skewed["p_value"] == pytest.approx(
        scipy_stats.chisquare([1100, 900]).pvalue
    )
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
