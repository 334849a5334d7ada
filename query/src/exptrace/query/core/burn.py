"""Experiment-caused error-budget burn: the budget a variant's excess over control consumes.

Burn rate = error rate / error budget (1 - availability SLO): 1 spends a 30-day budget in
30 days. The errors every arm shares are the service's own, so a variant is charged only its
excess over control: (its error rate - control's) / budget, with a 95% interval (Wald, per
request). The alerting rules are the multi-window, multi-burn-rate ones of the SRE workbook
(page: 1 h and 5 m above 14.4, or 6 h and 30 m above 6; ticket: 3 d and 6 h above 1), on the
excess. A rule fires only when its short window is fully covered by the arm's data, the
long window's excess (over the data there is: ``covered`` says when that is less than the
window) has its whole interval above the rule's factor, the short window's estimate is above
it, and each arm has at least :func:`min_requests` requests in the short window. Control
never pages. The interval counts requests as independent, which users who send many are not:
the watcher alerts on burn only when the always-valid comparison per unit confirms that the
variant has more errors (:mod:`exptrace.query.core.watch`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

WINDOWS = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600, "3d": 259200}
"""Burn windows: name -> seconds."""
HORIZON = dt.timedelta(seconds=max(WINDOWS.values()))
"""The longest burn window: how far back burn rates read."""
Z = 1.96
"""95% two-sided, for the excess's interval and the minimum cohort size."""


@dataclass(frozen=True)
class Rule:
    """Fire ``action`` when the excess burns faster than ``factor`` in both windows."""

    action: str
    long: str
    short: str
    factor: float

    def describe(self) -> str:
        return f"{self.action} when {self.long} and {self.short} both exceed {self.factor:g}x"


RULES = (
    Rule("page", "1h", "5m", 14.4),
    Rule("page", "6h", "30m", 6.0),
    Rule("ticket", "3d", "6h", 1.0),
)
"""Checked in order; the first that fires sets the status."""


def min_requests(factor: float, budget: float) -> int:
    """Requests per arm below which an excess of ``factor`` budgets cannot be told from
    noise: with both arms near the SLO's error rate (p = budget), the excess ``factor *
    budget`` is ``Z`` standard errors when n = 2 Z² p / (factor budget)² = 2 Z² / (factor²
    budget). For a 99.9% SLO: 38 requests at 14.4x, 214 at 6x, 7,684 at 1x."""
    return math.ceil(2 * Z * Z / (factor * factor * budget))


def excess(
    errors: int, requests: int, control_errors: int, control_requests: int, budget: float
) -> tuple[float, float, float] | None:
    """The excess burn rate and its 95% interval, or None without requests in an arm."""
    if not requests or not control_requests:
        return None
    p, q = errors / requests, control_errors / control_requests
    se = math.sqrt(p * (1 - p) / requests + q * (1 - q) / control_requests)
    return (p - q) / budget, (p - q - Z * se) / budget, (p - q + Z * se) / budget


def evaluate(row: dict[str, Any], end: dt.datetime) -> dict[str, Any]:
    """One (experiment, variant) row of ``burn_rates.sql``, judged."""
    budget = 1 - row["availability_target"]
    names = list(WINDOWS)
    first = dt.datetime.fromisoformat(str(row["first_at"]))
    data_seconds = max(0.0, (end - first).total_seconds())
    covered = {w: data_seconds >= WINDOWS[w] for w in names}
    n = dict(zip(names, (int(x) for x in row["requests"]), strict=True))
    k = dict(zip(names, (int(x) for x in row["errors"]), strict=True))
    cn = dict(zip(names, (int(x) for x in row["control_requests"]), strict=True))
    ck = dict(zip(names, (int(x) for x in row["control_errors"]), strict=True))
    is_control = row["variant"] == row["control"]
    excesses = {w: None if is_control else excess(k[w], n[w], ck[w], cn[w], budget) for w in names}
    status, reason = (
        ("control", "control is the baseline: it never pages") if is_control else ("ok", "")
    )
    judged = dict.fromkeys((r.action for r in RULES), False)
    for rule in () if is_control else RULES:
        long, short = excesses[rule.long], excesses[rule.short]
        if long is None or short is None or not covered[rule.short]:
            continue
        needed = min_requests(rule.factor, budget)
        if min(n[rule.short], cn[rule.short]) < needed:
            continue
        judged[rule.action] = True
        if long[1] > rule.factor and short[0] > rule.factor:
            status, reason = rule.action, rule.describe()
            break
    if status == "ok" and not any(judged.values()):
        reason = _unjudged(n, cn)
    return {
        "experiment": row["experiment"],
        "variant": row["variant"],
        "control": row["control"],
        "availability_target": row["availability_target"],
        "burn_rates": {w: k[w] / n[w] / budget if n[w] else None for w in names},
        "excess_burn_rates": {w: e[0] if e else None for w, e in excesses.items()},
        "excess_intervals": {w: [e[1], e[2]] if e else None for w, e in excesses.items()},
        "requests": n,
        "control_requests": cn,
        "data_seconds": data_seconds,
        "covered": covered,
        "status": status,
        "reason": reason,
        "judged": judged,
        "min_requests": {r.short: min_requests(r.factor, budget) for r in RULES},
    }


def _unjudged(requests: dict[str, int], control_requests: dict[str, int]) -> str:
    """Why no burn rule could judge an arm: an ``ok`` that is not an all-clear."""
    if not any(requests.values()):
        return "not judged: no request in this arm"
    if not any(control_requests.values()):
        return "not judged: no request in control to compare with"
    return "not judged yet: too few requests, or too short a run, for any burn window"


NOT_JUDGED = "not judged"
"""How an ``ok`` row no burn window could judge reads for people: not an all-clear."""


def burn_status(row: dict[str, Any]) -> str:
    """A burn row's status for people: :data:`NOT_JUDGED` where it is ``ok`` but no window
    could judge the arm (its ``reason`` says why)."""
    if row["status"] == "ok" and not any(row["judged"].values()):
        return NOT_JUDGED
    return row["status"]
