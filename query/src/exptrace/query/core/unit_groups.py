"""Arms from groups of units: the mergeable form of an experiment's arms.

Ingest's request facts are rolled (:mod:`~exptrace.query.core.rollup`) into rows per
experiment, period, variant and *unit group* (``sql/unit_groups.sql``): a hash of the unit
picks one of :data:`GROUPS` groups, so each group is a random set of units and the groups of
an arm are independent clusters of them. The delta method over groups (the sums of
``m``, ``e`` and ``c`` per group instead of per unit) estimates the same unit-level variance
(requests of one user stay in one group), as large experimentation platforms do with
"buckets"; latency comes from a log-bucket histogram per group (:data:`GROWTH`), whose bins
give each quantile within :data:`RELATIVE_ERROR` and each group's count below it.

What a report reads is then in proportion to groups x periods x bins, not to spans.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from exptrace.query.core.inference import BRACKET_Z, QUANTILES

GROUPS = 64
"""Unit groups per arm (``sql/unit_groups.sql`` hashes the unit into them): the variance
estimate has up to ``GROUPS - 1`` degrees of freedom per arm, which the comparisons account
for (:func:`~exptrace.query.core.inference.normal_equivalent`)."""
GROWTH = 1.02
"""Latency bin ``i`` holds durations in ``[GROWTH**i, GROWTH**(i+1))`` ms."""
RELATIVE_ERROR = GROWTH - 1
"""Largest relative error of a quantile read from the bins: a bin's width relative to its
lower end (2%). Within a bin, values are read as if spread evenly, so the quantiles and
their brackets move continuously with the counts."""
ZERO_BIN = -32768
"""The bin of zero durations."""
LEVELS = (*QUANTILES, 0.9)
"""The quantiles an arm reports, in ``report_arms.sql``'s order (p90 for the cohorts)."""


def bin_edges(index: int) -> tuple[float, float]:
    """The durations (ms) a bin spans."""
    if index == ZERO_BIN:
        return 0.0, 0.0
    return GROWTH**index, GROWTH ** (index + 1)


class Histogram:
    """An arm's merged bins, read at fractional positions (1-based, as order statistics)."""

    def __init__(self, counts: dict[int, int]) -> None:
        self.bins = sorted(counts)
        self.counts = [counts[b] for b in self.bins]
        self.cumulative: list[int] = []
        total = 0
        for c in self.counts:
            total += c
            self.cumulative.append(total)
        self.n = total

    def locate(self, position: float) -> tuple[int, float]:
        """The bin holding the ``position``-th smallest request, and how far into it."""
        position = max(min(position, self.n), 1e-9)
        i = bisect_left(self.cumulative, position)
        before = self.cumulative[i] - self.counts[i]
        return i, (position - before) / self.counts[i]

    def value(self, position: float) -> float:
        i, fraction = self.locate(position)
        low, high = bin_edges(self.bins[i])
        return low + fraction * (high - low)

    def quantile(self, level: float) -> float:
        """The ``level`` quantile by ``quantileExact``'s rule (the value at 0-based position
        ``floor(level * n)``); NaN without requests."""
        return self.value(math.floor(level * self.n) + 1) if self.n else math.nan


def arm_rows(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant, as ``sql/report_arms.sql`` returns it (plus ``clusters``: the
    groups the variance is taken over), from one experiment's rows of
    ``sql/report_groups.sql`` (per variant, identified or not, and unit group).

    As in ``report_arms.sql``: once any request carries a unit, requests without one are
    left out (counted in ``unidentified_requests``); without any, each request is its own
    unit (grouped by its trace)."""
    rows = list(groups)
    fallback = not any(r["identified"] for r in rows)
    by_variant: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_variant[r["variant"]].append(r)
    return [_arm(variant, members, fallback) for variant, members in sorted(by_variant.items())]


def _arm(variant: str, members: list[Mapping[str, Any]], fallback: bool) -> dict[str, Any]:
    kept = [r for r in members if fallback or r["identified"]]
    left_out = [r for r in members if not (fallback or r["identified"])]
    m = [int(r["requests"]) for r in kept]
    e = [int(r["errors"]) for r in kept]
    requests = sum(m)
    merged: dict[int, int] = defaultdict(int)
    for r in kept:  # the engine's arm histogram is on one row of each (identified or not)
        for b, c in zip(r["arm_bins"], r["arm_counts"], strict=True):
            merged[int(b)] += int(c)
    histogram = Histogram(merged)
    n = histogram.n
    # each group's requests at or below each quantile (the engine's `below`: its bins below
    # the arm's bin of the quantile and the same fraction of that bin as the arm's)
    below, below_sq, below_m = [0.0] * 3, [0.0] * 3, [0.0] * 3
    for r, mi in zip(kept, m, strict=True):
        for k, c in enumerate(r["below"]):
            below[k] += c
            below_sq[k] += c * c
            below_m[k] += c * mi
    clusters = sum(1 for mi in m if mi > 0)
    requests_sq = float(sum(mi * mi for mi in m))
    correction = clusters / max(clusters - 1, 1)
    low, high = [], []
    for k, level in enumerate(QUANTILES):
        share = below[k] / max(requests, 1)
        spread = below_sq[k] - 2 * share * below_m[k] + share * share * requests_sq
        sd = math.sqrt(max(spread, 0.0) * correction) / max(requests, 1)
        low.append(level - BRACKET_Z * sd)
        high.append(level + BRACKET_Z * sd)
    brackets = [histogram.value(level * n) if n else math.nan for level in (*low, *high)]
    return {
        "variant": variant,
        "units": sum(_units(r, fallback) for r in kept if int(r["requests"]) > 0),
        "identified_units": sum(int(r["units"]) for r in members if r["identified"]),
        "clusters": clusters,
        "requests": requests,
        "unidentified_requests": sum(int(r["requests"]) for r in left_out),
        "errors": sum(e),
        "requests_sq": requests_sq,
        "errors_sq": float(sum(x * x for x in e)),
        "errors_m": float(sum(x * y for x, y in zip(e, m, strict=True))),
        "mixed": sum(int(r["mixed"]) for r in members),
        "rooted": sum(int(r["rooted"]) for r in members),
        "quantiles": [histogram.quantile(level) for level in LEVELS],
        "below": below,
        "below_sq": below_sq,
        "below_m": below_m,
        "brackets": brackets,
    }


def _units(row: Mapping[str, Any], fallback: bool) -> int:
    """A group's units: its distinct unit ids, or its requests where each is its own unit."""
    return int(row["requests"]) if fallback else int(row["units"])
