"""Incident attribution: which experiment's variant explains the errors in a window.

Each treatment is compared with its own experiment's control on the requests in scope (the
same score test and delta method as the report, and as there, requests without a unit id
are left out of an experiment that has any); its excess errors come with an interval.
Suspects are ranked by evidence, and the p-values are Holm-corrected for the number of
suspects: with many experiments running, one of them always looks worst by chance.

An incident is an after-the-fact question over a window chosen once: it gets the
fixed-horizon test (one look), whatever method the report uses for running experiments,
whose always-valid intervals pay for looks an incident never takes. A
service-wide outage that every arm shares makes no variant differ from its control, so it
names no experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exptrace.query.core.inference import (
    ArmStats,
    Boundary,
    Effect,
    Method,
    error_rate_effect,
    holm,
)

if TYPE_CHECKING:
    from exptrace.query.core.answers import Page, Window
    from exptrace.query.core.engine import Engine

METHOD: Method = "fixed-horizon"
"""The test incident attribution uses: the window is chosen once, after the fact."""


def attribute(
    engine: Engine, window: Window, service: str, route: str, page: Page
) -> dict[str, Any]:
    """Suspects with excess errors and intervals; ``suspects`` names only the significant."""
    registered = engine.registry.list()
    params = {
        **window.params(),
        "service": service,
        "route": route,
        "experiment": "",
        **engine.request_params(registered),
    }
    rows = engine.run("incident_arms", params)
    scope = _scope(engine.run("incident_totals", params)[0], service, route)
    boundary = Boundary(METHOD, engine.alpha)
    controls = {e.id: e.control for e in registered}
    by_experiment: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], {})[row["variant"]] = row
    all_errors = scope["errors"]
    # Every treatment is tested (Holm counts them all); the rows people read are built only
    # for the page shown.
    tests: list[_Test] = []
    control_count = 0
    for experiment, arms in by_experiment.items():
        control = controls.get(experiment, "control")
        if control not in arms or not int(arms[control]["units"]):
            continue
        control_count += 1
        c = ArmStats.from_row(arms[control])
        for variant, row in arms.items():
            if variant != control:
                arm = ArmStats.from_row(row)
                effect = error_rate_effect(arm, c, boundary)
                excess = arm.errors - arm.requests * c.error_rate
                tests.append(_Test(experiment, variant, control, arm.requests, effect, excess))
    for test, adjusted in zip(tests, holm([t.effect.p_value for t in tests]), strict=True):
        test.adjusted = adjusted
        test.suspect = adjusted is not None and adjusted < engine.alpha and test.excess > 0
    tests.sort(
        key=lambda t: (
            not t.suspect,
            t.adjusted if t.adjusted is not None else 2.0,
            -t.excess,
        )
    )
    suspects = sum(t.suspect for t in tests)
    shown = page.cut(tests)
    ranked = [_ranked(t, by_experiment, all_errors) for t in shown]
    on_page = {t.experiment for t in shown}
    control_rows = [
        {**_entry(experiment, control, arms, control, all_errors), "excess_errors": 0.0}
        for experiment, arms in by_experiment.items()
        if experiment in on_page
        for control in [controls.get(experiment, "control")]
    ]
    named = [f"{r['experiment']}={r['variant']}" for r in ranked if r["suspect"]]
    if suspects > len(named):
        named.append(f"{suspects - len(named)} more suspects beyond this page")
    return {
        "window": window.__dict__,
        "service": service,
        "route": route,
        "ranked": ranked,
        "suspects": [r for r in ranked if r["suspect"]],
        "controls": control_rows,
        "all_errors": all_errors,
        "scope": scope,
        "method": {
            "name": METHOD,
            "multiplicity": "holm",
            "suspects": len(tests),
            "why": "an incident window is chosen once, after the fact: one look, "
            "Holm-corrected over every treatment tested",
        },
        "overflow": {
            "ranked": shown.overflow(),
            "suspects": suspects,
            "controls": control_count,
        },
        "verdict": (
            f"no verdict: {scope['empty']}"
            if scope["empty"]
            else ", ".join(named)
            if named
            else "no experiment stands out: every arm fails alike or the evidence is too thin"
        ),
        "registry_events": engine.registry.events(window.start, window.end),
    }


def _scope(totals: dict[str, Any], service: str, route: str) -> dict[str, Any]:
    """What the scope holds (requests and failed requests, tagged or not) and, when it holds
    no request, why there is no verdict (``empty``, else None)."""
    requests = int(totals["requests"])
    named = " and ".join(
        f"{kind} {value!r}" for kind, value in (("service", service), ("route", route)) if value
    )
    empty = None
    if not requests:
        empty = (
            f"no request from {named} in this window (check the spelling, or widen the window)"
            if named
            else "no request in this window"
        )
    return {"requests": requests, "errors": int(totals["errors"]), "empty": empty}


@dataclass
class _Test:
    """One treatment against its control, before it is put into words."""

    experiment: str
    variant: str
    control: str
    requests: int
    effect: Effect
    excess: float
    adjusted: float | None = None
    suspect: bool = False


def _entry(
    experiment: str,
    variant: str,
    arms: dict[str, dict[str, Any]],
    control: str,
    all_errors: int,
) -> dict[str, Any]:
    arm, c = ArmStats.from_row(arms[variant]), ArmStats.from_row(arms[control])
    return {
        "experiment": experiment,
        "variant": variant,
        "units": arm.units,
        "requests": arm.requests,
        "unidentified_requests": int(arms[variant]["unidentified_requests"]),
        "errors": arm.errors,
        "error_rate": arm.error_rate,
        "control_error_rate": c.error_rate,
        "p95_shift_ms": float(arms[variant]["p95_ms"]) - float(arms[control]["p95_ms"]),
        "error_share": arm.errors / all_errors if all_errors else 0.0,
        "excess_share": max(0.0, arm.errors - arm.requests * c.error_rate) / all_errors
        if all_errors
        else 0.0,
        "is_control": variant == control,
    }


def _ranked(
    test: _Test, by_experiment: dict[str, dict[str, dict[str, Any]]], all_errors: int
) -> dict[str, Any]:
    arms = by_experiment[test.experiment]
    low, high = test.effect.interval or (None, None)
    return {
        **_entry(test.experiment, test.variant, arms, test.control, all_errors),
        "excess_errors": test.excess,
        "excess_errors_ci": [
            None if low is None else low * test.requests,
            None if high is None else high * test.requests,
        ],
        "error_rate_diff_ci": None if low is None else [low, high],
        "p_value": test.effect.p_value,
        "note": test.effect.note,
        "adjusted_p_value": test.adjusted,
        "suspect": test.suspect,
    }
