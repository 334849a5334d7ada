"""The assignment config the registry serves, as the registry-backed assigner uses it.

The registry's ``GET /api/v1/assignments`` answers, per experiment, its status, variants and
weights, control and rolled-back variants. A running experiment is assigned by its weights,
its rolled-back variants' units go to control, and a stopped or archived experiment's members
are dropped. Experiments the registry does not name, and drafts, are left as they come.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exptrace.propagation import grammar

ENDED = frozenset({"stopped", "archived"})
"""Statuses whose members a request no longer keeps."""


@dataclass(frozen=True)
class AssignmentConfig:
    """What the registry says services assign."""

    weights: Mapping[str, Mapping[str, float]]
    """Running experiments: variant -> weight (every variant, rolled-back ones included, so
    units keep their hash bucket and only the rolled-back ones move)."""
    controls: Mapping[str, str]
    rolled_back: Mapping[str, frozenset[str]]
    ended: frozenset[str]

    @classmethod
    def parse(cls, document: Any) -> AssignmentConfig:
        """From the registry's JSON; raises ValueError when it does not have that shape."""
        if not isinstance(document, dict) or not isinstance(document.get("experiments"), dict):
            raise ValueError("the assignment config has no experiments object")
        weights, controls, rolled_back, ended = {}, {}, {}, set()
        for experiment, entry in document["experiments"].items():
            variants = entry.get("variants") if isinstance(entry, dict) else None
            control = entry.get("control") if isinstance(entry, dict) else None
            back = entry.get("rolled_back") if isinstance(entry, dict) else None
            if (
                not grammar.is_token(experiment)
                or not isinstance(variants, dict)
                or not all(grammar.is_token(v) and _weight(w) for v, w in variants.items())
                or control not in variants
                or not isinstance(back, list)
                or not set(back) <= set(variants)
            ):
                raise ValueError(f"the assignment config's entry for {experiment!r} is malformed")
            controls[experiment] = control
            rolled_back[experiment] = frozenset(back)
            if entry.get("status") == "running" and sum(variants.values()) > 0:
                weights[experiment] = {v: float(w) for v, w in variants.items()}
            elif entry.get("status") in ENDED:
                ended.add(experiment)
        return cls(weights, controls, rolled_back, frozenset(ended))

    def revise(self, assigned: Mapping[str, str]) -> dict[str, str]:
        """``assigned`` with rolled-back variants moved to control and ended experiments
        dropped."""
        kept = {}
        for experiment, variant in assigned.items():
            if experiment in self.ended:
                continue
            if variant in self.rolled_back.get(experiment, ()):
                variant = self.controls[experiment]
            kept[experiment] = variant
        return kept


def _weight(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
