"""The experiment report: arms summed over units by the engine, compared here, decided."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from exptrace.query.core import rollup
from exptrace.query.core.inference import (
    BRACKET_Z,
    ERROR_RATE_MARGIN,
    LATENCY_MARGIN,
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
from exptrace.query.core.statistics import sample_ratio_mismatch
from exptrace.query.core.unit_groups import GROUPS, GROWTH, RELATIVE_ERROR

if TYPE_CHECKING:
    from exptrace.query.core.answers import Window
    from exptrace.query.core.engine import Engine
    from exptrace.query.core.registry import Experiment

Read = tuple[list[dict[str, Any]], dict[str, Any]]
"""An experiment's arms as ``sql/report_arms.sql`` rows, and what they were read from."""

MIN_UNITS = 100
"""Below this many units in an arm a comparison says "not enough data": with fewer, the
normal approximations behind the latency intervals are too narrow and a one-look A/A finds
differences more often than alpha (simulated in ``tests/query/test_sim_statistics.py``,
figures in the README)."""
COVERAGE_THRESHOLD = 0.95
"""Below this share of requests with a unit id, the report warns: the analysis leaves the
others out, which is unbiased only if a request's lack of a unit does not depend on its
variant or outcome."""
FALLBACK_RISK = (
    "no request carries the unit attribute {attribute!r}: requests are analysed as if "
    "independent, which understates the variance when one user sends many requests "
    "(false positives, and SRM alarms that are not real)"
)
SCOPES = {
    "run": "the experiment's whole run, from the minute it started",
    "custom": "a custom window: a different question from the experiment's whole run "
    "(looks at sliding windows are each a new sample)",
    "last_hour": "the last hour: the experiment is not registered or has not started",
}
"""Which window a report answers, in words."""
ROLLED_BACK_RUN = (
    "rolled back at {at} UTC: the run is analysed up to then, while the arms were randomized "
    "(afterwards the rolled-back variants' units are sent to control)"
)
ROLLED_BACK_WINDOW = (
    "this window runs past the rollback at {at} UTC: units moved from the rolled-back "
    "variants to control are counted in control, so neither the comparison nor the sample "
    "ratio is a randomized one after it"
)


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
        self,
        engine: Engine,
        experiment: str,
        window: Window,
        scope: str = "custom",
        exact: bool = False,
        read: Read | None = None,
        registered: Experiment | Literal["find"] | None = "find",
    ) -> None:
        """``exact``: per-unit sums and exact quantiles from every request fact in the
        window (``sql/report_arms.sql``); otherwise the unit groups (``sql/report_groups.sql``:
        rolled periods, and the request facts after them). ``read``: the arms already read
        with what was read (a watch round reads every experiment's in one query);
        ``registered``: the registry's entry when the caller has it (``find``: look it up)."""
        self.engine = engine
        self.exact = exact
        self.read = read
        self.experiment = experiment
        self.window = window
        self.scope = scope
        """Which question the window asks: a key of :data:`SCOPES`."""
        self.registered = engine.registry.find(experiment) if registered == "find" else registered
        self.control = self.registered.control if self.registered else "control"
        self.unit_attribute = self.registered.unit if self.registered else engine.unit_attribute
        """The registered experiment's unit attribute, else the query layer's default."""
        self.boundary = Boundary(engine.method, engine.alpha, engine.tuning_units)
        slo = self.registered.slo if self.registered else {}
        self.expected_units = slo.get("expected_units")
        """Units (all arms) at the planned horizon, from the registry; None: no plan."""
        self.margins = {
            "error_rate": slo.get("error_rate_margin", ERROR_RATE_MARGIN),
            "latency": slo.get("latency_margin", LATENCY_MARGIN),
        }
        """Non-inferiority margins relative to control: the registry's, else the defaults."""
        self.params = {
            **window.params(),
            "experiment": experiment,
            # the one experiment asked about is all the query reads: no second registry read
            **engine.request_params([self.registered] if self.registered else []),
            "bracket_z": BRACKET_Z,
        }

    def _rows(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The arms' rows and where they were read from."""
        if self.exact:
            rows = self.engine.run("report_arms", self.params)
            return rows, {"source": "exact", "latency": "exact quantiles of every request"}
        if self.read is not None:
            return self.read
        plan = rollup.plan(self.engine, [self.experiment], self.window)
        arms = rollup.read_arms(self.engine, plan, self.params)[self.experiment]
        return arms, plan.describe(self.experiment)

    def build(self) -> dict[str, Any]:
        rows, data = self._rows()
        by_variant = {r["variant"]: r for r in rows}
        arms = {v: _arm(r) for v, r in by_variant.items()}
        registered = list(self.registered.variants) if self.registered else []
        variants = sorted(set(arms) | set(registered))
        empty = [v for v in variants if v not in arms or arms[v].units == 0]
        control = arms.get(self.control)
        has_control = control is not None and control.units > 0
        treatments = [v for v in variants if v != self.control]
        notes: list[str] = []
        empty_scope = None
        if not rows:
            empty_scope = f"no request in this window carries experiment {self.experiment!r}"
            notes.append(empty_scope)
        elif not has_control:
            notes.append(
                f"no traffic in control variant {self.control!r}: nothing to compare against"
            )
        notes += [
            f"no traffic in {'registered ' if v in registered else ''}variant {v!r}"
            for v in empty
            if v != self.control and rows
        ]
        identified = sum(int(r["identified_units"]) for r in rows)
        analysis = "units" if identified else "requests"
        attribute = self.unit_attribute
        if rows and not identified:
            notes.append(FALLBACK_RISK.format(attribute=attribute))
        mixed = sum(int(r["mixed"]) for r in rows)
        requests = sum(int(r["requests"]) for r in rows)
        unidentified = sum(int(r["unidentified_requests"]) for r in rows)
        coverage = requests / (requests + unidentified) if identified else 0.0
        if identified and unidentified:
            notes.append(
                f"{unidentified} requests carry no {attribute!r}: left out of the analysis "
                f"(units counted: {identified}; {coverage:.1%} of requests have a unit)"
            )
        if identified and coverage < COVERAGE_THRESHOLD:
            notes.append(
                f"unit coverage {coverage:.1%} is below {COVERAGE_THRESHOLD:.0%}: the result "
                "holds only if requests without a unit differ by neither variant nor outcome"
            )
        if mixed:
            notes.append(
                f"{mixed} traces carry more than one variant of {self.experiment!r} "
                "(contamination): left out of the arms"
            )
        compared = [v for v in treatments if has_control and v not in empty]
        boundaries = {v: self._boundary(v) for v in compared}
        effects = {v: self._effects(arms[v], arms[self.control], boundaries[v]) for v in compared}
        flat = [e for row in effects.values() for e in row]
        for e, adjusted in zip(flat, holm([e.p_value for e in flat]), strict=True):
            e.adjusted_p_value = adjusted
        comparisons = [
            {
                **self._comparison(v, arms, effects.get(v)),
                "unit": analysis,
                "method": self.engine.method,
            }
            for v in treatments
            if control is not None or v in registered
        ]
        return {
            "experiment": self.experiment,
            "window": {**self.window.__dict__, "scope": self.scope, "means": SCOPES[self.scope]},
            "control": self.control,
            "registered": self.registered is not None,
            "empty": empty_scope,
            "alpha": self.engine.alpha,
            "min_units": MIN_UNITS,
            "margins": self.margins,
            "cohorts": [self._cohort(v, by_variant.get(v)) for v in variants if rows],
            "comparisons": comparisons,
            "sample_ratio": self._srm(arms, analysis),
            "notes": notes,
            "data": data,
            "method": {
                "name": self.engine.method,
                "boundary": (boundary := self._boundary(self.control).name),  # everyone's
                "tuning_units": self.engine.tuning_units if boundary == "mixture" else None,
                "expected_units": self.expected_units,
                "information_fraction": {
                    v: b.information(arms[v].units + arms[self.control].units)
                    for v, b in boundaries.items()
                },
                "multiplicity": "holm",
                "error_rate": "score test at the pooled rate (residuals centred within each "
                "arm), delta method over units or groups of units; Newcombe interval from "
                "Wilson intervals at design-effect sizes",
                "latency": "p50/p95/p99 differences, unit-aware standard errors from the "
                "CDF's delta-method interval (Deng et al. 2018)"
                + (
                    ""
                    if self.exact
                    else f"; quantiles from log-bucket histograms within "
                    f"{RELATIVE_ERROR:.2%} (bins growing by {GROWTH})"
                ),
                "variance": "delta method over units"
                if self.exact
                else f"delta method over {GROUPS} random groups of units per arm (by unit hash)",
                "relative": "delta method on the log ratio of treatment to control",
                "pass": "non-inferiority: each relative interval's upper end below its margin",
            },
            "unit": {
                "attribute": attribute,
                "attribute_from": "registry" if self.registered else "default",
                "analysis": analysis,
                "identified_units": identified,
                "units": sum(a.units for a in arms.values()),
                "unidentified_requests": unidentified,
                "coverage": coverage,
                "coverage_threshold": COVERAGE_THRESHOLD,
                "low_coverage": bool(rows) and coverage < COVERAGE_THRESHOLD,
            },
            "contamination": {
                "mixed_requests": mixed,
                "share": mixed / seen if (seen := mixed + requests + unidentified) else 0.0,
            },
            "rootless_requests": sum(
                int(r["requests"]) + int(r["unidentified_requests"]) + int(r["mixed"]) for r in rows
            )
            - sum(int(r["rooted"]) for r in rows),
        }

    def _boundary(self, variant: str) -> Boundary:
        """The comparison's boundary: with the registry's ``expected_units``, planned at the
        units its two arms are to reach (their share of the weights), the mixture tuned
        there; otherwise the report's mixture."""
        weights = self.registered.variants if self.registered else {}
        if self.expected_units is None or self.engine.method == "fixed-horizon" or not weights:
            return self.boundary
        share = (weights.get(variant, 0) + weights[self.control]) / sum(weights.values())
        planned = max(1, round(self.expected_units * share))
        return Boundary(self.engine.method, self.engine.alpha, planned, planned)

    def _effects(self, t: ArmStats, c: ArmStats, boundary: Boundary) -> list[Effect]:
        if min(t.units, c.units) < MIN_UNITS:
            return []
        margin = self.margins
        return [
            error_rate_effect(t, c, boundary, margin["error_rate"]),
            *(quantile_effect(level, t, c, boundary, margin["latency"]) for level in QUANTILES),
        ]

    def _comparison(
        self, variant: str, arms: dict[str, ArmStats], effects: list[Effect] | None
    ) -> dict[str, Any]:
        t, c = (arms.get(v) or ArmStats(v, 0, 0, 0, 0, 0, 0) for v in (variant, self.control))
        result: dict[str, Any] = {
            "variant": variant,
            "units": t.units,
            "control_units": c.units,
            "requests": t.requests,
            "control_requests": c.requests,
            "errors": t.errors,
            "control_errors": c.errors,
            "error_rate": _finite(t.error_rate),
            "control_error_rate": _finite(c.error_rate),
        }
        if not effects:
            result["decision"] = "inconclusive"
            result["metrics"] = []
            if not t.units or not c.units:
                arm = variant if not t.units else self.control
                result["verdict"] = f"no traffic in {arm!r}: nothing to compare"
            else:
                result["verdict"] = f"not enough data (needs {MIN_UNITS} units per arm)"
            return result
        decision = decide(effects, self.engine.alpha)
        errors, *latency = effects
        median = latency[0]
        result.update(
            decision=decision,
            metrics=[_json(e.as_dict()) for e in effects],
            error_rate_diff=errors.estimate,
            error_rate_diff_ci=_json(list(errors.interval)) if errors.interval else None,
            error_rate_relative=_finite(errors.relative),
            error_rate_relative_ci=_json(list(errors.relative_interval))
            if errors.relative_interval
            else None,
            error_p_value=errors.p_value,
            error_p_value_adjusted=errors.adjusted_p_value,
            median_ms=median.treatment,
            control_median_ms=median.control,
            median_diff_ms=median.estimate,
            latency_p_value=min(
                (e.p_value for e in latency if e.p_value is not None), default=None
            ),
            latency_p_value_adjusted=min(
                (e.adjusted_p_value for e in latency if e.adjusted_p_value is not None),
                default=None,
            ),
            mde={e.metric: e.mde for e in effects},
        )
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

    def _cohort(self, variant: str, row: dict[str, Any] | None) -> dict[str, Any]:
        """One arm as analysed; an arm with no analysed request has zeros and no rates."""
        requests = int(row["requests"]) if row else 0
        errors = int(row["errors"]) if row else 0
        rate = errors / requests if requests else None
        p50, p95, p99, p90 = (
            (_finite(float(x)) for x in row["quantiles"]) if row and requests else [None] * 4
        )
        return {
            "variant": variant,
            "units": int(row["units"]) if row else 0,
            "requests": requests,
            "errors": errors,
            "error_rate": rate,
            "availability": None if rate is None else 1 - rate,
            "p50_ms": p50,
            "p90_ms": p90,
            "p95_ms": p95,
            "p99_ms": p99,
        }

    def _srm(self, arms: dict[str, ArmStats], analysis: str) -> dict[str, Any] | None:
        """The sample-ratio check on the analysed units (identified units only, once any
        request has one; ``analysis`` says which)."""
        if self.registered is None:
            return None
        check = sample_ratio_mismatch(
            {v: a.units for v, a in arms.items()},
            self.registered.variants,
            method=self.engine.method,
        )
        return None if check is None else {**check.__dict__, "unit": analysis}


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return _finite(value)
