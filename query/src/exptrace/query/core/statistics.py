"""Distributions the comparisons need, and the sample-ratio check."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass


def normal_quantile(p: float) -> float:
    """The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    if p > 1 - low:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )


def brownian_exit(c: float) -> float:
    """P(sup over [0, 1] of |W| >= c) for a standard Brownian motion W: the chance that a
    two-sided boundary at +-c on the cumulative score, looked at continuously, is ever
    crossed under the null (Feller 1971, XIV.7; the alternating reflection series, or for
    small ``c`` its Fourier twin, each converging fast where it is used)."""
    if c <= 0:
        return 1.0
    if c < 1:
        inside = sum(
            (-1) ** n / (2 * n + 1) * math.exp(-((2 * n + 1) ** 2) * math.pi**2 / (8 * c * c))
            for n in range(50)
        )
        return min(1.0, max(0.0, 1 - 4 / math.pi * inside))
    # 1 - sum over all k of (-1)^k [Phi((2k+1)c) - Phi((2k-1)c)], the k and -k terms paired
    tail = sum(
        (-1) ** (k + 1) * (_upper((2 * k - 1) * c) - _upper((2 * k + 1) * c)) for k in range(1, 20)
    )
    return min(1.0, max(0.0, 2 * (_upper(c) + tail)))


def _upper(x: float) -> float:
    """P(Z > x) for a standard normal Z."""
    return math.erfc(x / math.sqrt(2)) / 2


@functools.cache
def brownian_boundary(alpha: float) -> float:
    """The ``c`` at which :func:`brownian_exit` is ``alpha`` (bisection)."""
    low, high = 0.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if brownian_exit(mid) > alpha else (low, mid)
    return high


def chi_square_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square distribution with ``df`` degrees of freedom."""
    if x <= 0:
        return 1.0
    return _gamma_q(df / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x)."""
    if x < a + 1:  # series for P, then 1 - P
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    tiny = 1e-300  # continued fraction (Lentz)
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


SRM_CONCENTRATION = 100.0
"""Prior strength of the always-valid SRM test's Dirichlet mixture (in units): how far from
the registered split it looks hardest; any positive value keeps the test valid."""


@dataclass(frozen=True)
class SampleRatioCheck:
    """Observed split against the registered weights."""

    observed: dict[str, int]
    expected_share: dict[str, float]
    chi_square: float
    p_value: float
    """Always valid (:func:`sequential_srm_p_value`) or the chi-square's, by ``method``."""
    mismatch: bool
    threshold: float
    unregistered: dict[str, int]
    """Traffic in variants the registry does not name: a mismatch however small."""
    method: str
    chi_square_p_value: float
    """The one-look chi-square goodness-of-fit p-value, for reference."""


def sequential_srm_p_value(
    counts: list[int], shares: list[float], concentration: float = SRM_CONCENTRATION
) -> float:
    """An always-valid p-value for "the counts follow ``shares``": the reciprocal of the Bayes
    factor of a Dirichlet-multinomial mixture (centred on the shares) against them (Lindon and
    Malek 2022). By Ville's inequality the chance that it ever falls below alpha, however
    often it is computed as units arrive, is at most alpha."""
    prior = [concentration * s for s in shares]
    n = sum(counts)
    log_bf = math.lgamma(sum(prior)) - math.lgamma(sum(prior) + n)
    for a, x, s in zip(prior, counts, shares, strict=True):
        log_bf += math.lgamma(a + x) - math.lgamma(a) - x * math.log(s)
    return 1.0 if log_bf <= 0 else math.exp(-log_bf)


def sample_ratio_mismatch(
    observed: Mapping[str, int],
    weights: Mapping[str, float],
    threshold: float = 0.001,
    method: str = "always-valid",
) -> SampleRatioCheck | None:
    """``method``: ``always-valid`` (look as often as you like) or ``fixed-horizon`` (the
    chi-square test, one look). None when there is nothing to compare (no weights or no
    traffic)."""
    unregistered = {v: int(n) for v, n in observed.items() if v not in weights and n > 0}
    total_weight = sum(weights.values())
    total = sum(observed.get(v, 0) for v in weights)
    if total_weight <= 0 or total == 0 or len(weights) < 2:
        return None
    shares = {v: w / total_weight for v, w in weights.items()}
    chi = sum(
        (observed.get(v, 0) - total * s) ** 2 / (total * s) for v, s in shares.items() if s > 0
    )
    chi_p = chi_square_sf(chi, sum(1 for s in shares.values() if s > 0) - 1)
    counts = {v: int(observed.get(v, 0)) for v in weights}
    positive = [v for v, s in shares.items() if s > 0]
    if method == "fixed-horizon":
        p = chi_p
    else:
        p = sequential_srm_p_value([counts[v] for v in positive], [shares[v] for v in positive])
    mismatch = p < threshold or bool(unregistered)
    return SampleRatioCheck(
        counts, shares, chi, p, mismatch, threshold, unregistered, method, chi_p
    )
