"""A numpy reference of what ``sql/report_arms.sql`` computes, and
a clustered traffic simulator, so thousands of simulated experiments run in seconds.

``test_views_report.py`` checks that the engine and this reference agree on the same rows;
the simulation tests then feed the statistics many simulated arms through this reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

from exptrace.query.core.inference import BRACKET_Z, QUANTILES, ArmStats, QuantileStats

ALPHA = 0.05
"""The simulations' alpha (the report's default)."""


def band(n: int, p: float = ALPHA) -> tuple[int, int]:
    """The binomial 99% band for the number of positives in ``n`` trials at rate ``p``."""
    return int(scipy_stats.binom.ppf(0.005, n, p)), int(scipy_stats.binom.ppf(0.995, n, p))


def _exact(sorted_values: np.ndarray, level: float) -> float:
    """ClickHouse ``quantileExact``: the value at position floor(level * n)."""
    n = len(sorted_values)
    return float(sorted_values[min(n - 1, int(np.floor(level * n)))])


def _at(sorted_values: np.ndarray, level: float) -> float:
    """The brackets in ``report_arms.sql``: the value at position ceil(level * n), 1-based."""
    n = len(sorted_values)
    return float(sorted_values[max(1, min(n, int(np.ceil(level * n)))) - 1])


def cdf_sd(q: QuantileStats, arm: ArmStats) -> float:
    """Standard error of the CDF at the quantile, by the delta method over units."""
    share = q.below / arm.requests
    spread = q.below_sq - 2 * share * q.below_m + share * share * arm.requests_sq
    return float(np.sqrt(max(spread, 0.0) * arm.correction) / arm.requests)


def bracket_levels(q: QuantileStats, arm: ArmStats) -> tuple[float, float]:
    width = BRACKET_Z * cdf_sd(q, arm)
    return max(q.level - width, 0.0), min(q.level + width, 1.0)


def arm_stats(variant: str, unit: np.ndarray, failed: np.ndarray, ms: np.ndarray) -> ArmStats:
    """Sums over units and bracketed quantiles, as the engine computes them."""
    _, index = np.unique(unit, return_inverse=True)
    m = np.bincount(index).astype(float)
    e = np.bincount(index, weights=failed.astype(float))
    ordered = np.sort(ms)
    arm = ArmStats(
        variant,
        len(m),
        int(m.sum()),
        int(e.sum()),
        float((m * m).sum()),
        float((e * e).sum()),
        float((e * m).sum()),
    )
    quantiles = {}
    for level in QUANTILES:
        value = _exact(ordered, level)
        c = np.bincount(index, weights=(ms <= value).astype(float), minlength=len(m))
        stats = QuantileStats(
            level, value, float(c.sum()), float((c * c).sum()), float((c * m).sum())
        )
        low, high = bracket_levels(stats, arm)
        quantiles[level] = replace(stats, bracket=(_at(ordered, low), _at(ordered, high)))
    return replace(arm, quantiles=quantiles)


@dataclass(frozen=True)
class Traffic:
    """Requests of one simulated experiment: arm, unit, failure, latency (ms), time (s)."""

    arm: np.ndarray
    unit: np.ndarray
    failed: np.ndarray
    ms: np.ndarray
    at: np.ndarray

    def arms(self, until: float = np.inf, clustered: bool = True) -> dict[str, ArmStats]:
        seen = self.at < until
        out = {}
        for number in np.unique(self.arm[seen]):
            pick = seen & (self.arm == number)
            units = self.unit[pick] if clustered else np.flatnonzero(pick)
            name = "control" if number == 0 else f"t{number}"
            out[name] = arm_stats(name, units, self.failed[pick], self.ms[pick])
        return out


def clustered(
    rng: np.random.Generator,
    units: int = 2000,
    arms: int = 2,
    heavy_share: float = 0.2,
    mean_requests: float = 2.0,
    error_rate: float = 0.05,
    unit_sd: float = 0.5,
    mean_ms: float = 50.0,
    hours: float = 8.0,
    error_factor: float = 1.0,
    control_error_rate: float | None = None,
) -> Traffic:
    """Users split evenly between ``arms``; heavy users send ten times the requests; each
    user has an own error propensity (exponential around ``error_rate``) and speed
    (log-normal); requests arrive uniformly over ``hours``. Arms after control multiply the
    propensity by ``error_factor``; ``control_error_rate`` makes control's fixed instead."""
    arm = rng.integers(0, arms, units)
    heavy = rng.random(units) < heavy_share
    counts = (1 + rng.geometric(1 / (mean_requests + 1), units) - 1) * np.where(heavy, 10, 1)
    propensity = np.minimum(1.0, rng.exponential(error_rate, units))
    propensity = np.where(arm > 0, np.minimum(1.0, propensity * error_factor), propensity)
    if control_error_rate is not None:
        propensity = np.where(arm == 0, control_error_rate, propensity)
    speed = np.exp(unit_sd * rng.standard_normal(units))
    unit = np.repeat(np.arange(units), counts)
    failed = rng.random(len(unit)) < propensity[unit]
    ms = np.round(rng.exponential(mean_ms, len(unit)) * speed[unit], 3)
    at = rng.random(len(unit)) * hours * 3600
    return Traffic(arm[unit], unit, failed, ms, at)
