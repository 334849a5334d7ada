"""A numpy reference of what the report's two paths compute, and a clustered traffic
simulator, so thousands of simulated experiments run in seconds: ``exact``, the per-unit sums
and exact quantiles of ``sql/report_arms.sql`` (:func:`arm_stats`), and ``groups``, the
default, 64 unit groups and log-bucket histograms (``sql/unit_groups.sql`` read through
``core/unit_groups.py``: :func:`group_arm_stats`).

``test_views_report.py`` and ``test_sim_groups.py`` check that the engine and this reference
agree on the same rows; the simulation tests then feed the statistics many simulated arms
through this reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

from exptrace.query.core.inference import BRACKET_Z, QUANTILES, ArmStats, QuantileStats
from exptrace.query.core.unit_groups import GROUPS, GROWTH, ZERO_BIN

ALPHA = 0.05
"""The simulations' alpha (the report's default)."""
PATHS = ("exact", "groups")
"""The report's two ways of reading arms: ``Report(exact=True)`` and the default."""


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

    def arms(
        self, until: float = np.inf, clustered: bool = True, path: str = "exact"
    ) -> dict[str, ArmStats]:
        """The arms of the requests before ``until`` as the report reads them on ``path``
        (:data:`PATHS`); ``clustered=False`` makes each request a unit of its own."""
        seen = self.at < until
        out = {}
        for number in np.unique(self.arm[seen]):
            pick = seen & (self.arm == number)
            units = self.unit[pick] if clustered else np.flatnonzero(pick)
            name = "control" if number == 0 else f"t{number}"
            if path == "groups":
                group = unit_group(units)
                out[name] = group_arm_stats(name, units, self.failed[pick], self.ms[pick], group)
            else:
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


def int_hash64(x: np.ndarray) -> np.ndarray:
    """ClickHouse ``intHash64`` (MurmurHash3's 64-bit finalizer of the id xor a fixed
    seed), elementwise."""
    x = np.asarray(x).astype(np.uint64) ^ np.uint64(0x4CF2D2BAAE6DA887)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(33))
        x = x * np.uint64(0xFF51AFD7ED558CCD)
        x = x ^ (x >> np.uint64(33))
        x = x * np.uint64(0xC4CEB9FE1A85EC53)
        x = x ^ (x >> np.uint64(33))
    return x


def unit_group(unit: np.ndarray) -> np.ndarray:
    """A unit's group as ``sql/unit_groups.sql`` picks it: ``intHash64(unit) % GROUPS``
    (there the unit is ingest's 64-bit hash of its id; here any integer id)."""
    return (int_hash64(unit) % np.uint64(GROUPS)).astype(np.int64)


def latency_bins(ms: np.ndarray) -> np.ndarray:
    """``sql/unit_groups.sql``'s bin of each duration: floor(log(ms) / log(GROWTH)), zero
    durations in :data:`~exptrace.query.core.unit_groups.ZERO_BIN`."""
    with np.errstate(divide="ignore"):
        bins = np.floor(np.log(ms) / np.log(GROWTH))
    return np.where(ms > 0, bins, ZERO_BIN).astype(np.int64)


def group_rows(
    variant: str, unit: np.ndarray, failed: np.ndarray, ms: np.ndarray, group: np.ndarray
) -> list[dict]:
    """One arm's rows of ``sql/report_groups.sql`` (every request with a unit, none mixed):
    per unit group its requests, errors, distinct units and its requests at or below each of
    the arm's quantiles (``below``: bins below the arm's bin of the quantile whole, and the
    arm's fraction of that bin), and on the first group's row the arm's histogram
    (``arm_bins``, ``arm_counts``; empty on the others)."""
    bins = latency_bins(ms)
    arm_values, arm_counts = np.unique(bins, return_counts=True)
    cumulative = np.cumsum(arm_counts)
    cuts = [
        _bin_value(arm_values, cumulative, np.floor(level * cumulative[-1]) + 1)
        for level in QUANTILES
    ]
    rows = []
    for g in np.unique(group):
        pick = group == g
        mine = bins[pick]
        below = [
            float((mine < arm_values[i]).sum() + fraction * (mine == arm_values[i]).sum())
            for i, fraction in cuts
        ]
        rows.append(
            {
                "variant": variant,
                "identified": True,
                "unit_group": int(g),
                "requests": int(pick.sum()),
                "errors": int(failed[pick].sum()),
                "units": len(np.unique(unit[pick])),
                "mixed": 0,
                "rooted": int(pick.sum()),
                "below": below,
                "arm_bins": [] if rows else arm_values.tolist(),
                "arm_counts": [] if rows else arm_counts.tolist(),
            }
        )
    return rows


def _bin_value(bins: np.ndarray, cumulative: np.ndarray, position: float) -> tuple[int, float]:
    """``unit_groups.Histogram.locate``: the bin index holding a 1-based position and the
    fraction of the way into it."""
    n = cumulative[-1]
    position = max(min(position, n), 1e-9)
    i = int(np.searchsorted(cumulative, position, side="left"))
    count = cumulative[i] - (cumulative[i - 1] if i else 0)
    return i, (position - (cumulative[i] - count)) / count


def _histogram_value(bins: np.ndarray, cumulative: np.ndarray, position: float) -> float:
    i, fraction = _bin_value(bins, cumulative, position)
    if bins[i] == ZERO_BIN:
        return 0.0
    low, high = GROWTH ** float(bins[i]), GROWTH ** float(bins[i] + 1)
    return low + fraction * (high - low)


def group_arm_stats(
    variant: str, unit: np.ndarray, failed: np.ndarray, ms: np.ndarray, group: np.ndarray
) -> ArmStats:
    """What the report's default path makes of one arm: the unit groups of
    :func:`group_rows` through ``unit_groups.arm_rows`` (the delta method over the groups,
    quantiles and brackets read from the merged histogram), vectorised; equal to it
    (``test_sim_groups.py``), so simulations can afford thousands of arms."""
    m = np.bincount(group, minlength=GROUPS).astype(float)
    e = np.bincount(group, weights=failed.astype(float), minlength=GROUPS)
    bins = latency_bins(ms)
    values, counts = np.unique(bins, return_counts=True)
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    requests = float(m.sum())
    clusters = int((m > 0).sum())
    correction = clusters / max(clusters - 1, 1)
    arm = ArmStats(
        variant,
        len(np.unique(unit)),
        int(requests),
        int(e.sum()),
        float((m * m).sum()),
        float((e * e).sum()),
        float((e * m).sum()),
        clusters=clusters,
    )
    quantiles = {}
    for level in QUANTILES:
        position = np.floor(level * n) + 1
        i, fraction = _bin_value(values, cumulative, position)
        weight = np.where(bins < values[i], 1.0, np.where(bins == values[i], fraction, 0.0))
        c = np.bincount(group, weights=weight, minlength=GROUPS)
        share = c.sum() / requests
        spread = (c * c).sum() - 2 * share * (c * m).sum() + share * share * (m * m).sum()
        sd = np.sqrt(max(spread, 0.0) * correction) / requests
        low, high = level - BRACKET_Z * sd, level + BRACKET_Z * sd
        quantiles[level] = QuantileStats(
            level,
            _histogram_value(values, cumulative, position),
            float(c.sum()),
            float((c * c).sum()),
            float((c * m).sum()),
            (
                _histogram_value(values, cumulative, low * n),
                _histogram_value(values, cumulative, high * n),
            ),
        )
    return replace(arm, quantiles=quantiles)
