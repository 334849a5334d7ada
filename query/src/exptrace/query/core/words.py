"""The words and number formats every surface shows (CLI, pages, demo): one wording each."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from exptrace.propagation import UNIT_MEMBER

ATTRIBUTION_NOTE = (
    "completeness = linked / tagged. An item is linked when a variant it ran under has an "
    "artifact in the registry (model, image, commit...); variants registered without one, "
    "often control, are never linked, so completeness stays below 100% whenever they have "
    "traffic: with a 50/50 split and artifacts on the treatment only, about 50%."
)
"""What the attribution figure means, said where it is shown (page and CLI)."""
NO_PIPELINE = (
    "The pipeline measure is not stored for this window: the receiver records its own lag "
    "only when started with EXPTRACE_SELF_METRICS_INTERVAL (seconds, e.g. 15); its /metrics "
    "shows it live."
)
"""Why the lag answer has no pipeline rows (page and CLI)."""


def counted(count: int, noun: str) -> str:
    """``1 arm``, ``2 arms``: a count with its noun."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def unweighed(count: int) -> str:
    """What the verdict, the CLI and the page say of treatments whose control sent nothing."""
    return f"{counted(count, 'arm')} could not be weighed: their control has no request in scope"


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def signed_pct(value: float | None) -> str:
    """A change as a signed percentage; every change and interval bound uses this form."""
    return "-" if value is None else f"{value * 100:+.2f}%"


def pp(value: float | None) -> str:
    """A difference of two rates, in percentage points."""
    return "-" if value is None else f"{value * 100:+.2f} pp"


def interval_text(pair: Sequence[float | None] | None) -> str:
    """An interval of rate differences, in percentage points."""
    if not pair or pair[0] is None or pair[1] is None:
        return "-"
    low, high = pair
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    return f"[{pp(low)}, {pp(high)}]"


def bracket(pair: Sequence[float | None] | None, fmt: Callable[[float], str]) -> str | None:
    """An interval as ``[low, high]`` in ``fmt``; a missing upper end beside a lower one reads
    ``unbounded`` (a relative interval reaching past what a float holds); None without one."""
    if not pair or pair[0] is None:
        return None
    high = "unbounded" if pair[1] is None else fmt(pair[1])
    return f"[{fmt(pair[0])}, {high}]"


def unit_source(unit: dict[str, Any]) -> str:
    """Where the report's unit attribute came from, in words."""
    if unit.get("attribute_from") != "registry":
        return "default"
    return "the default, as registered" if unit.get("attribute") == UNIT_MEMBER else "registered"


def unit_words(unit: dict[str, Any]) -> str:
    """The analysis unit, where it came from and how many requests had one, in one line."""
    source = unit_source(unit)
    if not unit["units"]:
        return f"{unit['attribute']} ({source}): no request in this window to count"
    if unit["analysis"] != "units":
        return (
            f"requests: no request carries {unit['attribute']} ({source}), so each request "
            "counts as independent"
        )
    words = f"{unit['attribute']} ({source}), {unit['units']:,} units"
    if unit.get("unidentified_requests"):
        words += (
            f"; {pct(unit['coverage'], 1)} of requests carry one "
            f"({unit['unidentified_requests']:,} without one left out)"
        )
    if unit.get("low_coverage"):
        words += " (LOW: see notes)"
    return words
