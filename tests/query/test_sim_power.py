"""Known truth, watched every minute: the power an experiment keeps when watched from its start
to its planned horizon, and the false positives an A/A collects watched to twice that.

Users arrive one after another and are split 50/50; each sends a heavy-tailed number of
requests (Pareto, shape 2.5) and fails each with an own propensity (exponential around 1%).
An experiment plans 4,800 users; a look every 10 users is 480 looks to the plan (a look a
minute over 8 hours). The error-rate test's z at every look of thousands of experiments comes
from cumulative sums (vectorised numpy) over users (the exact path) or over the 64 unit groups
users are hashed into (the default path), equal to the report's own ``error_rate_effect`` on
the same sums (checked below on a few looks, with its degrees of freedom); each look is
judged by the report's :class:`Boundary`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from exptrace.query.core.inference import Boundary, error_rate_effect
from exptrace.query.core.statistics import brownian_boundary, brownian_exit
from exptrace.query.core.unit_groups import GROUPS
from tests.query.simstats import ALPHA, PATHS, arm_stats, band, group_arm_stats, unit_group

PLANNED = 4_800
"""Users (both arms) at the planned horizon."""
EVERY = 10
"""Users between looks: 480 looks to the plan."""
CHUNK = 50
"""Experiments simulated at once (memory: the groups path keeps 128 cells per look); the
same on both paths, so that they judge the same simulated experiments."""
PLAN = Boundary("always-valid", ALPHA, PLANNED, planned_units=PLANNED)
MIXTURE = Boundary("always-valid", ALPHA, PLANNED)
FIXED = Boundary("fixed-horizon", ALPHA)
SUMS = ("units", "requests", "errors", "requests_sq", "errors_sq", "errors_m")
"""The per-arm sums of :class:`ArmStats`, in its order."""


def _users(
    rng: np.random.Generator, runs: int, users: int, factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per experiment and user: treated, requests, errors (treatment's propensity times
    ``factor``)."""
    treated = rng.random((runs, users)) < 0.5
    requests = np.floor(1 + 3 * rng.pareto(2.5, (runs, users)))
    propensity = np.minimum(
        1.0, rng.exponential(0.01, (runs, users)) * np.where(treated, factor, 1)
    )
    errors = rng.binomial(requests.astype(np.int64), propensity).astype(float)
    return treated, requests, errors


def _sums(treated: np.ndarray, requests: np.ndarray, errors: np.ndarray) -> dict[str, np.ndarray]:
    """Per arm (0 control, 1 treatment), experiment and look: the sums the engine keeps."""
    looks = np.arange(EVERY - 1, treated.shape[1], EVERY)
    values = (
        np.ones_like(requests),
        requests,
        errors,
        requests * requests,
        errors * errors,
        errors * requests,
    )
    out = {}
    for name, value in zip(SUMS, values, strict=True):
        out[name] = np.stack(
            [np.cumsum(np.where(treated == arm, value, 0.0), axis=1)[:, looks] for arm in (0, 1)]
        )
    return out


def _group_sums(
    treated: np.ndarray, requests: np.ndarray, errors: np.ndarray, first: int = 0
) -> dict[str, np.ndarray]:
    """Per arm, experiment and look: the sums the default path keeps, over the unit groups
    (user ``i`` of experiment ``r`` is unit ``first + r * users + i``, hashed into a group
    as ``sql/unit_groups.sql`` does), with ``clusters``: the groups with requests."""
    runs, users = treated.shape
    looks = users // EVERY
    group = unit_group(first + np.arange(runs * users)).reshape(runs, users)
    cell = treated * GROUPS + group  # 2 * GROUPS cells: arm, then group
    index = (np.arange(runs)[:, None] * looks + np.arange(users) // EVERY) * 2 * GROUPS + cell
    size = runs * looks * 2 * GROUPS

    def cumulative(weights: np.ndarray) -> np.ndarray:
        per_look = np.bincount(index.ravel(), weights.ravel(), minlength=size)
        cells = np.cumsum(per_look.reshape(runs, looks, 2, GROUPS), axis=1)
        return np.moveaxis(cells, 2, 0)  # arm, run, look, group

    m, e = cumulative(requests), cumulative(errors)
    units = cumulative(np.ones_like(requests)).sum(-1)
    return {
        "units": units,
        "requests": m.sum(-1),
        "errors": e.sum(-1),
        "requests_sq": (m * m).sum(-1),
        "errors_sq": (e * e).sum(-1),
        "errors_m": (e * m).sum(-1),
        "clusters": (m > 0).sum(-1).astype(float),
    }


def _z(s: dict[str, np.ndarray]) -> np.ndarray:
    """The score statistic of :func:`error_rate_effect` (residuals at the pooled rate,
    centred per arm), per experiment and look, as its p-value reads it: through ``normal_equivalent`` at the Welch-Satterthwaite degrees of
    freedom over each arm's clusters (its units, or its unit groups)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = s["errors"].sum(0) / s["requests"].sum(0)
        spread = s["errors_sq"] - 2 * pooled * s["errors_m"] + pooled**2 * s["requests_sq"]
        n = s.get("clusters", s["units"])
        spread = spread - (s["errors"] - pooled * s["requests"]) ** 2 / n  # centred
        arm = np.maximum(spread, 0) * n / (n - 1) / s["requests"] ** 2
        variance = arm.sum(0)
        df = variance**2 / (arm**2 / np.maximum(n - 1, 1)).sum(0)
        rates = s["errors"] / s["requests"]
        z = (rates[1] - rates[0]) / np.sqrt(variance)
        z = z * (1 - 1 / (4 * df)) / np.sqrt(1 + z * z / (2 * df))
    return np.where(np.isfinite(z), z, 0.0)


def _watch(seed: int, runs: int, looks: int, factor: float, path: str = "exact") -> np.ndarray:
    """z per experiment and look, ``runs`` experiments of ``looks`` looks, on ``path``."""
    rng = np.random.default_rng(seed)
    chunk, users = CHUNK, looks * EVERY
    out = []
    for done in range(0, runs, chunk):
        drawn = _users(rng, min(chunk, runs - done), users, factor)
        out.append(_z(_group_sums(*drawn, done * users) if path == "groups" else _sums(*drawn)))
    return np.concatenate(out)


def _crossed(z: np.ndarray, boundary: Boundary, looks: int) -> np.ndarray:
    """Whether each experiment's |z| ever reached the boundary in its first ``looks`` looks
    (units as at each look)."""
    k = np.array([boundary.multiplier((i + 1) * EVERY) for i in range(looks)])
    return (np.abs(z[:, :looks]) >= k).any(axis=1)


@pytest.mark.parametrize("path", PATHS)
def test_the_vectorised_z_is_the_reports_error_rate_test(path):
    """On a few looks: the cumulative sums are ``simstats.arm_stats``'s (exact) or
    ``group_arm_stats``'s (groups) of the same requests (which ``test_views_report.py`` and
    ``test_sim_groups.py`` hold equal to the engine's), and the z, judged by each boundary,
    gives the p-value of the report's ``error_rate_effect`` (the fixed-horizon one too,
    which is below 1 at these looks)."""
    rng = np.random.default_rng(40)
    treated, requests, errors = _users(rng, 3, 600, 1.5)
    s = (_group_sums if path == "groups" else _sums)(treated, requests, errors)
    z = _z(s)
    sums = SUMS + (("clusters",) if path == "groups" else ())
    for run, look in ((0, 10), (1, 30), (2, 59)):
        seen = (look + 1) * EVERY
        arm = []
        for i, name in enumerate(("control", "t1")):
            users = np.flatnonzero(treated[run, :seen] == i)
            counts = requests[run, users].astype(int)
            unit = np.repeat(users, counts)  # each user's first ``errors`` requests fail
            first = np.repeat(np.cumsum(counts) - counts, counts)
            failed = np.arange(len(unit)) - first < np.repeat(errors[run, users], counts)
            ms = np.ones(len(unit))
            if path == "groups":
                group = unit_group(run * treated.shape[1] + unit)
                arm.append(group_arm_stats(name, unit, failed, ms, group))
            else:
                arm.append(arm_stats(name, unit, failed, ms))
            got = (arm[i].units, arm[i].requests, arm[i].errors)
            got += (arm[i].requests_sq, arm[i].errors_sq, arm[i].errors_m)
            got += (arm[i].clusters,) if path == "groups" else ()
            assert got == tuple(s[k][i, run, look] for k in sums), (name, run, look)
        for boundary in (PLAN, FIXED):
            effect = error_rate_effect(arm[1], arm[0], boundary)
            want = boundary.p_value(z[run, look], seen)
            assert effect.p_value == pytest.approx(want, rel=1e-9), (boundary.name, run, look)
        assert FIXED.p_value(z[run, look], seen) < 1


def test_the_boundary_constant_is_the_continuous_brownian_exit():
    """c solves P(sup_[0,1] |W| >= c) = 0.8 alpha exactly. A Monte Carlo of the Brownian
    supremum (20,000 paths of 2,400 steps, seed 41), which can only miss crossings, agrees
    within its error; looked at 480 times it crosses c less often than 0.8 alpha, while the
    constant calibrated to those 480 looks is crossed more often by continuous looks (the
    exact rate at it exceeds 0.8 alpha): why the boundary uses the continuous constant."""
    c = brownian_boundary(0.8 * ALPHA)
    assert brownian_exit(c) == pytest.approx(0.8 * ALPHA, rel=1e-9)
    assert c == pytest.approx(2.3263, abs=1e-4)
    rng = np.random.default_rng(41)
    steps, paths = 2_400, 5_000
    fine, looked = [], []
    for _ in range(4):
        walk = np.cumsum(rng.standard_normal((paths, steps), dtype=np.float32), axis=1)
        walk = np.abs(walk / math.sqrt(steps))
        fine.append(walk.max(axis=1))
        looked.append(walk[:, steps // 480 - 1 :: steps // 480].max(axis=1))
    supremum, at_looks = np.concatenate(fine), np.concatenate(looked)
    for level in (1.0, 2.0, c):
        seen = (supremum >= level).mean()
        assert brownian_exit(level) - 0.03 <= seen <= brownian_exit(level) + 0.004, (level, seen)
    assert (at_looks >= c).mean() < 0.8 * ALPHA
    calibrated = np.quantile(at_looks, 1 - 0.8 * ALPHA)
    assert calibrated < c and brownian_exit(float(calibrated)) > 0.8 * ALPHA, calibrated


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
def test_an_aa_watched_every_minute_to_twice_its_plan_keeps_alpha(path):
    """2,000 A/A experiments (seed 42) watched 960 times, to twice the plan: a false positive
    at most as often as alpha allows (the binomial 99% band's top), and at least 60% of
    alpha spent (the boundary is exact for continuous looks, so 480 discrete looks spend a
    little less; the mixture alone spends far less). On either path: the default's variance
    over 64 groups is as valid, through its degrees of freedom."""
    runs, looks = 2_000, 2 * PLANNED // EVERY
    z = _watch(42, runs, looks, 1.0, path)
    planned = int(_crossed(z, PLAN, looks).sum())
    mixture = int(_crossed(z, MIXTURE, looks).sum())
    print(f"A/A to 2N, {path}: planned boundary {planned}/{runs}, mixture {mixture}/{runs}")
    assert 0.6 * ALPHA * runs <= planned <= band(runs)[1], planned
    assert mixture < planned


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
def test_watched_every_minute_the_planned_boundary_keeps_most_of_the_fixed_horizon_power(path):
    """1,000 experiments (seed 43) whose treatment fails 1.6 times as often, sized so that one
    look at the plan finds it about 80% of the time: watched at each of the 480 looks to the
    plan, the planned boundary finds it in at least 80% of the fixed-horizon runs; the
    mixture alone, tuned to a quarter, half or all of the plan, does not. On either path."""
    runs, looks = 1_000, PLANNED // EVERY
    z = _watch(43, runs, looks, 1.6, path)
    fixed = int((np.abs(z[:, -1]) >= FIXED.multiplier(PLANNED)).sum())
    planned = int(_crossed(z, PLAN, looks).sum())
    mixtures = [
        int(_crossed(z, Boundary("always-valid", ALPHA, PLANNED // share), looks).sum())
        for share in (4, 2, 1)
    ]
    print(f"power at N, {path}: fixed {fixed}/{runs}, planned {planned}/{runs}, {mixtures}")
    assert 0.7 * runs <= fixed <= 0.9 * runs, fixed
    assert planned >= 0.8 * fixed, (planned, fixed)
    assert max(mixtures) < 0.8 * fixed, (mixtures, fixed)
