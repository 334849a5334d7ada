"""The experiment report: arms summed over units by the engine, compared here, decided."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from exptrace.query.inference import (
    BRACKET_Z,
    QUANTILES,
    ArmStats,
    Boundary,
    Effect,
    QuantileStats,
    decide,
    error_rate_effect,
    findings,
    holm,
    quantile_effect,
)
from exptrace.query.statistics import sample_ratio_mismatch

if TYPE_CHECKING:
    from exptrace.query.api import Queries, Window

MIN_UNITS = 10
"""Below this many units in an arm, the delta method's normal approximation is not trusted."""
FALLBACK_RISK = (
    "no request carries the unit attribute {attribute!r}: requests are analysed as if "
    "independent, which understates the variance when one user sends many requests "
    "(false positives, and SRM alarms that are not real)"
)
SCOPES = {
    "run": "the experiment's whole run, since it started",
    "custom": "a custom window: a different question from the experiment's whole run "
    "(looks at sliding windows are each a new sample)",
    "last_hour": "the last hour: the experiment is not registered or has not started",
}
"""Which window a report answers, in words."""


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _arm(row: dict[str, Any]) -> ArmStats:
    brackets = row["brackets"]
    quantiles = {
        level: QuantileStats(
            level,
            float(row["quantiles"][i]),
            float(row["below"][i]),
            float(row["below_sq"][i]),
            float(row["below_m"][i]),
            (float(brackets[i]), float(brackets[i + len(QUANTILES)])),
        )
        for i, level in enumerate(QUANTILES)
    }
    return ArmStats.from_row(row, quantiles)


class Report:
    """One report: read the arms (one query), compare, correct, decide."""

    def __init__(
        self, queries: Queries, experiment: str, window: Window, scope: str = "custom"
    ) -> None:
        self.q = queries
        self.experiment = experiment
        self.window = window
        self.scope = scope
        """Which question the window asks: a key of :data:`SCOPES`."""
        self.registered = queries.registry.find(experiment)
        self.control = self.registered.control if self.registered else "control"
        self.unit_attribute = self.registered.unit if self.registered else queries.unit_attribute
        """The registered experiment's unit attribute, else the query layer's default."""
        self.boundary = Boundary(queries.method, queries.alpha, queries.tuning_units)
        self.params = {
            **window.params(),
            "experiment": experiment,
            # the one experiment asked about is all the query reads: no second registry read
            **queries.request_params([self.registered] if self.registered else []),
            "bracket_z": BRACKET_Z,
        }

    def build(self) -> dict[str, Any]:
        rows = self.q.run("report_arms", self.params)
        arms = {r["variant"]: _arm(r) for r in rows}
        treatments = [v for v in sorted(arms) if v != self.control]
        notes: list[str] = []
        if not arms:
            notes.append(f"no request in this window carries experiment {self.experiment!r}")
        elif self.control not in arms:
            notes.append(
                f"no traffic in control variant {self.control!r}: nothing to compare against"
            )
        comparable = self.control in arms and bool(treatments)
        identified = sum(int(r["identified_units"]) for r in rows)
        analysis = "units" if identified else "requests"
        attribute = self.unit_attribute
        if rows and not identified:
            notes.append(FALLBACK_RISK.format(attribute=attribute))
        mixed = sum(int(r["mixed"]) for r in rows)
        requests = sum(int(r["requests"]) for r in rows)
        if mixed:
            notes.append(
                f"{mixed} traces carry more than one variant of {self.experiment!r} "
                "(contamination): left out of the arms"
            )
        comparisons, effects = [], []
        for variant in treatments if comparable else []:
            row_effects = self._effects(arms[variant], arms[self.control])
            effects.append(row_effects)
        flat = [e for row in effects for e in row]
        for e, adjusted in zip(flat, holm([e.p_value for e in flat]), strict=True):
            e.adjusted_p_value = adjusted
        for variant, row_effects in zip(treatments, effects, strict=False):
            comparison = self._comparison(arms[variant], arms[self.control], row_effects)
            comparisons.append({**comparison, "unit": analysis, "method": self.q.method})
        return {
            "experiment": self.experiment,
            "window": {**self.window.__dict__, "scope": self.scope, "means": SCOPES[self.scope]},
            "control": self.control,
            "registered": self.registered is not None,
            "alpha": self.q.alpha,
            "min_requests": MIN_UNITS,
            "cohorts": [self._cohort(r) for r in rows],
            "comparisons": comparisons,
            "sample_ratio": self._srm(arms),
            "notes": notes,
            "method": {
                "name": self.q.method,
                "tuning_units": self.q.tuning_units if self.q.method == "always-valid" else None,
                "multiplicity": "holm",
                "error_rate": "score test at the pooled rate, delta method over units; "
                "Newcombe interval from Wilson intervals at design-effect sizes",
                "latency": "p50/p95/p99 differences, unit-aware standard errors from the "
                "CDF's delta-method interval (Deng et al. 2018)",
            },
            "unit": {
                "attribute": attribute,
                "attribute_from": "registry" if self.registered else "default",
                "analysis": analysis,
                "identified_units": identified,
                "units": sum(a.units for a in arms.values()),
            },
            "contamination": {
                "mixed_requests": mixed,
                "share": mixed / (mixed + requests) if mixed + requests else 0.0,
            },
            "rootless_requests": sum(int(r["requests"]) + int(r["mixed"]) for r in rows)
            - sum(int(r["rooted"]) for r in rows),
        }

    def _effects(self, t: ArmStats, c: ArmStats) -> list[Effect]:
        if min(t.units, c.units) < MIN_UNITS:
            return []
        return [
            error_rate_effect(t, c, self.boundary),
            *(quantile_effect(level, t, c, self.boundary) for level in QUANTILES),
        ]

    def _comparison(self, t: ArmStats, c: ArmStats, effects: list[Effect]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "variant": t.variant,
            "units": t.units,
            "control_units": c.units,
            "requests": t.requests,
            "control_requests": c.requests,
            "errors": t.errors,
            "control_errors": c.errors,
            "error_rate": t.error_rate,
            "control_error_rate": c.error_rate,
        }
        if not effects:
            result["decision"] = "inconclusive"
            result["metrics"] = []
            result["verdict"] = f"not enough data (needs {MIN_UNITS} units per arm)"
            return result
        decision = decide(effects, self.q.alpha)
        errors, *latency = effects
        median = latency[0]
        result.update(
            decision=decision,
            metrics=[_json(e.as_dict()) for e in effects],
            error_rate_diff=errors.estimate,
            error_rate_diff_ci=_json(list(errors.interval)) if errors.interval else None,
            error_rate_relative=_finite(errors.relative),
            error_rate_relative_ci=None,
            error_p_value=errors.adjusted_p_value,
            median_ms=median.treatment,
            control_median_ms=median.control,
            median_diff_ms=median.estimate,
            latency_p_value=min(
                (e.adjusted_p_value for e in latency if e.adjusted_p_value is not None),
                default=None,
            ),
            mde={e.metric: e.mde for e in effects},
        )
        if errors.interval and c.error_rate > 0:
            result["error_rate_relative_ci"] = [
                errors.interval[0] / c.error_rate,
                errors.interval[1] / c.error_rate,
            ]
        words = findings(effects)
        undefined = [f"{e.metric}: {e.note}" for e in effects if e.p_value is None]
        if words:
            text = ", ".join(words)
        elif decision == "pass":
            text = "no difference beyond the margins"
        else:
            text = "inconclusive so far"
        if undefined:
            text += f" ({'; '.join(undefined)})"
        result["verdict"] = text
        return result

    def _cohort(self, row: dict[str, Any]) -> dict[str, Any]:
        requests, errors = int(row["requests"]), int(row["errors"])
        rate = errors / requests if requests else 0.0
        p50, p95, p99, p90 = (float(x) for x in row["quantiles"])
        return {
            "variant": row["variant"],
            "units": int(row["units"]),
            "requests": requests,
            "errors": errors,
            "error_rate": rate,
            "availability": 1 - rate,
            "p50_ms": p50,
            "p90_ms": p90,
            "p95_ms": p95,
            "p99_ms": p99,
        }

    def _srm(self, arms: dict[str, ArmStats]) -> dict[str, Any] | None:
        if self.registered is None:
            return None
        check = sample_ratio_mismatch(
            {v: a.units for v, a in arms.items()}, self.registered.variants, method=self.q.method
        )
        return None if check is None else {**check.__dict__, "unit": "units"}


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return _finite(value)
