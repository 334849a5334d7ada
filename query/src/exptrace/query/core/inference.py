"""Comparisons of a treatment with control at the randomization unit, valid while watched.

Each arm arrives as sums over its units (:class:`ArmStats`): a unit (a user, a session) sends
``m`` requests of which ``e`` fail. The error rate ``sum(e) / sum(m)`` is a ratio of means, so
its variance comes from the delta method over units (Deng et al., KDD 2018); requests of one
user are not independent evidence. Latency quantiles get unit-aware intervals the same way:
the share of a unit's requests at or below the arm's quantile is a ratio metric, its interval
maps back to the quantile through the arm's order statistics (Deng et al. 2018, section 4.2).

Each effect also has a relative interval (treatment / control - 1) from the delta method on
the log of the ratio, so it carries both arms' uncertainty; ``pass`` is a non-inferiority
verdict on it: the interval's upper end below a margin relative to control's value.

Every interval and p-value is either always valid (an asymptotic confidence sequence,
Waudby-Smith et al. 2023, as GrowthBook ships it: looking after every request keeps the
false-positive rate at alpha; with a planned number of units, joined by an O'Brien-Fleming
boundary for continuous monitoring that keeps most of the fixed-horizon power at the plan,
see :class:`Boundary`) or fixed-horizon (one look, at a pre-registered end).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from exptrace.query.core.statistics import brownian_boundary, brownian_exit, normal_quantile

Method = Literal["always-valid", "fixed-horizon"]
QUANTILES = (0.5, 0.95, 0.99)
BRACKET_Z = 1.959963984540054
"""Half-width, in standard errors of the CDF, of the bracket that turns the CDF's interval
into the quantile's standard error (``sql/report_arms.sql`` reads the bracket)."""
POWER_Z = 0.8416212335729143  # 80% power, for the minimum detectable effect
ERROR_RATE_MARGIN = 0.2
"""Default non-inferiority margin of the error rate, relative to control's: ``pass`` needs
the relative interval's upper end below +20% (a 99.99% service's variant must show it fails
less than 0.012%)."""
LATENCY_MARGIN = 0.05
"""Default non-inferiority margin of each latency quantile, relative to control's (+5%)."""
MIN_TAIL = 20
"""A quantile is compared only when each arm has this many requests beyond it (p99: 2,000
requests per arm): below that its interval is too rough to be trusted at every look."""


@dataclass(frozen=True)
class QuantileStats:
    """One arm's quantile ``level``: its value and the unit sums of the indicator counts."""

    level: float
    value: float
    below: float  # sum over units of c (requests at or below ``value``)
    below_sq: float  # sum of c^2
    below_m: float  # sum of c*m
    bracket: tuple[float, float] | None = None  # values at the CDF interval's ends

    def standard_error(self) -> float:
        if self.bracket is None:
            raise ValueError("the quantile's bracket has not been read")
        low, high = self.bracket
        return (high - low) / (2 * BRACKET_Z)


@dataclass(frozen=True)
class ArmStats:
    """Sums over one arm's units: what the delta method needs, nothing per request."""

    variant: str
    units: int
    requests: int
    errors: int
    requests_sq: float  # sum of m^2
    errors_sq: float  # sum of e^2
    errors_m: float  # sum of e*m
    quantiles: dict[float, QuantileStats] = field(default_factory=dict)
    clusters: int | None = None
    """Independent clusters the sums are over: the units, or groups of units
    (:mod:`~exptrace.query.core.unit_groups`); None: the units."""

    @classmethod
    def from_row(
        cls, row: dict[str, Any], quantiles: dict[float, QuantileStats] | None = None
    ) -> ArmStats:
        """An arm from a query row with the per-unit sums (``units``, ``requests_sq``...)."""
        return cls(
            row["variant"],
            int(row["units"]),
            int(row["requests"]),
            int(row["errors"]),
            float(row["requests_sq"]),
            float(row["errors_sq"]),
            float(row["errors_m"]),
            quantiles or {},
            int(row["clusters"]) if row.get("clusters") is not None else None,
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else math.nan

    @property
    def correction_n(self) -> int:
        """How many independent clusters the sums are over."""
        return self.units if self.clusters is None else self.clusters

    @property
    def correction(self) -> float:
        """n / (n - 1) over the clusters: the sample variance's correction."""
        n = self.correction_n
        return n / (n - 1) if n > 1 else math.inf

    def rate_variance(self, rate: float) -> float:
        """Variance of ``errors / requests`` with residuals ``e - rate * m`` over the clusters
        (delta method), centred on their mean as the ``n / (n - 1)`` correction assumes.

        At the arm's own rate the residuals sum to zero and centring changes nothing; at
        the score test's pooled rate it takes out the arm's shift from the pooled rate,
        ``(rate_arm - rate) * m`` per cluster, which is not variance. Per unit that shift is
        negligible; per group of units (a 64th of the arm's requests each) it is not: a
        treatment failing 1.6 times as often had its variance overstated by 7%, which cost
        the watched comparisons 2-6 points of power (``tests/query/test_sim_power.py``)."""
        spread = self.errors_sq - 2 * rate * self.errors_m + rate * rate * self.requests_sq
        n = self.correction_n
        if n > 0:
            shift = self.errors - rate * self.requests
            spread -= shift * shift / n
        return max(spread, 0.0) * self.correction / self.requests**2


PLANNED_SHARE = 0.8
"""Share of alpha the O'Brien-Fleming boundary spends up to the planned units; the mixture
spends the rest at any time, so the test stays valid past the plan."""


@dataclass(frozen=True)
class Boundary:
    """Turns a z statistic into a p-value and a standard error into a half-width.

    Always valid without ``planned_units``: the mixture (asymptotic confidence sequence) at
    alpha. With them: the union of an O'Brien-Fleming boundary for continuous monitoring,
    ``|z| >= c / sqrt(t)`` at information fraction ``t = units / planned_units <= 1``, where
    ``c`` makes a Brownian motion leave ``[-c, c]`` before ``t = 1`` with probability
    ``PLANNED_SHARE * alpha`` (exact for continuous looks, so any looks are covered), and
    the mixture at the remaining alpha, tightest at the plan. Rejecting when either is
    crossed keeps the false-positive rate at alpha (the two rates add up)."""

    method: Method
    alpha: float
    tuning_units: int = 1_000
    """Always valid only: the number of units at which the mixture is tightest."""
    planned_units: int | None = None
    """Always valid only: units of the comparison (treatment and control) at its planned
    end; None keeps the mixture alone."""

    @property
    def name(self) -> str:
        """``fixed-horizon``, ``mixture`` or ``obrien-fleming+mixture``."""
        if self.method == "fixed-horizon":
            return self.method
        return "mixture" if self.planned_units is None else "obrien-fleming+mixture"

    def information(self, units: int) -> float | None:
        """The information fraction ``units / planned_units``; None without a plan."""
        if self.method == "fixed-horizon" or self.planned_units is None:
            return None
        return units / self.planned_units

    def _rest(self) -> Boundary:
        """The mixture that spends what the O'Brien-Fleming boundary does not."""
        assert self.planned_units is not None
        return Boundary(self.method, self.alpha * (1 - PLANNED_SHARE), self.planned_units)

    def _a(self, units: int) -> float:
        log_alpha = -2 * math.log(self.alpha)
        return units * (log_alpha + math.log(log_alpha + 1)) / self.tuning_units

    def multiplier(self, units: int) -> float:
        """Half-width of the interval in standard errors, at ``units`` units seen so far."""
        if self.method == "fixed-horizon":
            return normal_quantile(1 - self.alpha / 2)
        if self.planned_units is not None:
            k = self._rest().multiplier(units)
            t = units / self.planned_units
            if t <= 1:
                k = min(k, brownian_boundary(self.alpha * PLANNED_SHARE) / math.sqrt(t))
            return k
        a = self._a(units)
        return math.sqrt(2 * (a + 1) / a * math.log(math.sqrt(a + 1) / self.alpha))

    def p_value(self, z: float, units: int) -> float:
        """The smallest alpha at which the interval excludes zero."""
        if self.method == "fixed-horizon":
            return math.erfc(abs(z) / math.sqrt(2))
        if self.planned_units is not None:
            rest = self._rest()
            p = rest.p_value(z, units) * self.alpha / rest.alpha
            t = units / self.planned_units
            if t <= 1:
                p = min(p, brownian_exit(abs(z) * math.sqrt(t)) / PLANNED_SHARE)
            return min(1.0, p)
        a = self._a(units)
        return min(1.0, math.sqrt(a + 1) * math.exp(-z * z * a / (2 * (a + 1))))


@dataclass
class Effect:
    """One metric of one treatment against control."""

    metric: str
    treatment: float
    control: float
    estimate: float | None = None  # treatment - control
    interval: tuple[float, float] | None = None
    relative: float | None = None  # treatment / control - 1
    relative_interval: tuple[float, float] | None = None
    """Interval of ``relative`` accounting for both arms (delta method on the log ratio)."""
    p_value: float | None = None
    adjusted_p_value: float | None = None
    direction: str | None = None  # "worse" / "better" / "none"; None when undefined
    mde: float | None = None
    significant: bool = False
    guardrail_crossed: bool = False
    margin: float | None = None
    """Non-inferiority margin relative to control's value (0.2: at most 20% worse)."""
    within_margin: bool = False
    degrees_of_freedom: float | None = None
    """Of the variance estimate (Welch-Satterthwaite over both arms' clusters); the interval
    and p-value account for them (:func:`normal_equivalent`). None: not estimated."""
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "treatment": self.treatment,
            "control": self.control,
            "estimate": self.estimate,
            "interval": list(self.interval) if self.interval else None,
            "relative": self.relative,
            "relative_interval": list(self.relative_interval) if self.relative_interval else None,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "direction": self.direction,
            "significant": self.significant,
            "guardrail_crossed": self.guardrail_crossed,
            "margin": self.margin,
            "within_margin": self.within_margin,
            "mde": self.mde,
            "degrees_of_freedom": self.degrees_of_freedom,
            "note": self.note,
        }


def degrees_of_freedom(*parts: tuple[float, ArmStats]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates, each taken over
    an arm's clusters (its groups of units, or its units): ``(variance, arm)``."""
    total = sum(v for v, _ in parts)
    spread = sum(v * v / max(a.correction_n - 1, 1) for v, a in parts)
    return total * total / spread if spread > 0 else math.inf


def normal_equivalent(z: float, df: float) -> float:
    """The normal deviate with the tail probability of Student's t at ``z`` with ``df``
    degrees of freedom (Wallace 1959): a variance estimated over a few dozen groups of units
    is itself uncertain, which a normal boundary alone would not count."""
    if math.isinf(df):
        return z
    return z * (1 - 1 / (4 * df)) / math.sqrt(1 + z * z / (2 * df))


def t_multiplier(k: float, df: float) -> float:
    """The inverse of :func:`normal_equivalent`: the half-width, in standard errors, with
    the coverage a normal half-width ``k`` has (infinite when ``df`` is too small for it)."""
    if math.isinf(df) or math.isinf(k):
        return k
    denominator = (1 - 1 / (4 * df)) ** 2 - k * k / (2 * df)
    return k / math.sqrt(denominator) if denominator > 0 else math.inf


def _wilson(rate: float, n: float, k: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    centre = (rate + k * k / (2 * n)) / (1 + k * k / n)
    half = k / (1 + k * k / n) * math.sqrt(rate * (1 - rate) / n + k * k / (4 * n * n))
    return max(centre - half, 0.0), min(centre + half, 1.0)


_LOG_MAX = math.log(sys.float_info.max)
"""The largest ``x`` whose ``exp(x)`` is a float."""


def relative_interval(
    treatment: float, treatment_se: float, control: float, control_se: float, k: float
) -> tuple[float, float] | None:
    """``treatment / control - 1`` within ``k`` standard errors of the log ratio, whose
    variance by the delta method is the sum of both arms' squared relative errors; None
    when either value is not positive (the log ratio is undefined). An upper end past what
    a float holds (a quantile whose bracket reaches far into a sparse tail) is ``inf``:
    unbounded."""
    if treatment <= 0 or control <= 0:
        return None
    spread = k * math.hypot(treatment_se / treatment, control_se / control)
    ratio = math.log(treatment / control)
    upper = ratio + spread
    return math.expm1(ratio - spread), math.expm1(upper) if upper < _LOG_MAX else math.inf


def error_rate_effect(
    t: ArmStats, c: ArmStats, boundary: Boundary, margin: float = ERROR_RATE_MARGIN
) -> Effect:
    """Score test on the error rate (variance at the pooled rate, so zero counts are fine) and
    a Newcombe interval from Wilson intervals at the arms' effective (design-effect) sizes."""
    effect = Effect("error_rate", t.error_rate, c.error_rate, margin=margin)
    if min(t.units, c.units) < 2:
        effect.note = "fewer than two units in an arm"
        return effect
    pooled = (t.errors + c.errors) / (t.requests + c.requests)
    variance = t.rate_variance(pooled) + c.rate_variance(pooled)
    estimate = t.error_rate - c.error_rate
    effect.estimate = estimate
    units = t.units + c.units
    if variance <= 0:
        effect.note = "no errors in either arm" if pooled == 0 else "every request failed"
        return effect
    df = degrees_of_freedom((t.rate_variance(pooled), t), (c.rate_variance(pooled), c))
    effect.degrees_of_freedom = df
    k = t_multiplier(boundary.multiplier(units), df)
    z = estimate / math.sqrt(variance)
    effect.p_value = boundary.p_value(normal_equivalent(z, df), units)
    effect.direction = "worse" if estimate > 0 else "better" if estimate < 0 else "none"
    effect.mde = (k + POWER_Z) * math.sqrt(variance)
    base = pooled * (1 - pooled)
    sizes = [a.requests / max(1.0, a.rate_variance(pooled) * a.requests / base) for a in (t, c)]
    (lt, ut), (lc, uc) = (_wilson(a.error_rate, n, k) for a, n in zip((t, c), sizes, strict=True))
    effect.interval = (
        estimate - math.hypot(t.error_rate - lt, uc - c.error_rate),
        estimate + math.hypot(ut - t.error_rate, c.error_rate - lc),
    )
    if c.error_rate > 0:
        effect.relative = estimate / c.error_rate
        effect.relative_interval = relative_interval(
            t.error_rate,
            math.sqrt(t.rate_variance(t.error_rate)),
            c.error_rate,
            math.sqrt(c.rate_variance(c.error_rate)),
            k,
        )
    return effect


def quantile_effect(
    level: float, t: ArmStats, c: ArmStats, boundary: Boundary, margin: float = LATENCY_MARGIN
) -> Effect:
    """Difference of one latency quantile (ms), with unit-aware standard errors."""
    qt, qc = t.quantiles[level], c.quantiles[level]
    name = f"latency_p{round(level * 100)}"
    effect = Effect(name, qt.value, qc.value, margin=margin)
    if min(t.units, c.units) < 2:
        effect.note = "fewer than two units in an arm"
        return effect
    needed = math.ceil(MIN_TAIL / (1 - level))
    if min(t.requests, c.requests) < needed:
        effect.note = f"too few requests for p{round(level * 100)} (needs {needed} per arm)"
        return effect
    estimate = qt.value - qc.value
    se = math.hypot(qt.standard_error(), qc.standard_error())
    units = t.units + c.units
    effect.estimate = estimate
    effect.relative = estimate / qc.value if qc.value else None
    df = degrees_of_freedom((qt.standard_error() ** 2, t), (qc.standard_error() ** 2, c))
    effect.degrees_of_freedom = df
    k = t_multiplier(boundary.multiplier(units), df)
    if se == 0:
        if estimate != 0:
            effect.note = "both arms' quantiles sit on ties: no interval"
            return effect
        effect.p_value, effect.direction = 1.0, "none"
    else:
        effect.p_value = boundary.p_value(normal_equivalent(estimate / se, df), units)
        effect.direction = "worse" if estimate > 0 else "better" if estimate < 0 else "none"
    effect.interval = (estimate - k * se, estimate + k * se)
    effect.relative_interval = relative_interval(
        qt.value, qt.standard_error(), qc.value, qc.standard_error(), k
    )
    effect.mde = (k + POWER_Z) * se
    return effect


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (family-wise error rate); None stays None."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def decide(effects: list[Effect], alpha: float) -> str:
    """``fail`` when a guardrail is crossed; ``pass`` when every metric is shown not worse
    than its margin (non-inferiority: the relative interval's upper end below the margin,
    relative to control's value); ``inconclusive`` otherwise (too little data, undefined
    metrics, or a control at zero, against which no relative margin can be shown)."""
    for e in effects:
        e.significant = e.adjusted_p_value is not None and e.adjusted_p_value < alpha
        e.guardrail_crossed = e.significant and e.direction == "worse"
        e.within_margin = (
            e.relative_interval is not None
            and e.margin is not None
            and e.relative_interval[1] < e.margin
        )
    if any(e.guardrail_crossed for e in effects):
        return "fail"
    if effects and all(e.within_margin for e in effects):
        return "pass"
    return "inconclusive"


_WORDS = {
    "error_rate": ("more errors", "fewer errors"),
    "latency": ("slower", "faster"),
}


def findings(effects: list[Effect]) -> list[str]:
    """Words for people, from the significant effects and their tested direction."""
    out: list[str] = []
    for e in effects:
        if not e.significant or e.direction not in ("worse", "better"):
            continue
        worse, better = _WORDS["error_rate" if e.metric == "error_rate" else "latency"]
        word = worse if e.direction == "worse" else better
        if e.metric != "error_rate":
            word += f" ({e.metric.removeprefix('latency_')} {e.estimate:+.1f} ms)"
        out.append(word)
    return out
