"""Incident attribution: which experiment's variant explains the errors in a window.

Each treatment is compared with its own experiment's control on the requests in scope (the
same score test and delta method as the report, and as there, requests without a unit id
are left out of an experiment that has any); its excess errors come with an interval.
Suspects are ranked by evidence, and the p-values are Holm-corrected for the number of
arms tested: with many experiments running, one of them always looks worst by chance. Arms
the test cannot weigh (too few units, no error, no control in scope) are listed after the
tested, each saying why, never dropped.

An incident is an after-the-fact question over a window chosen once: it gets the
fixed-horizon test (one look), whatever method the report uses for running experiments,
whose always-valid intervals pay for looks an incident never takes. A
service-wide outage that every arm shares makes no variant differ from its control, so it
names no experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exptrace.query.core import words
from exptrace.query.core.answers import Rows
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
        "controls": {e.id: e.control for e in registered},
        **engine.request_params(registered),
        **page.params(),
    }
    rows = engine.run("incident_arms", params)
    scope = _scope(engine.run("incident_totals", params)[0], service, route)
    boundary = Boundary(METHOD, engine.alpha)
    all_errors = scope["errors"]
    # Every treatment the score test can weigh is tested (Holm counts them all) and ranked
    # first; the others (no p-value: too few units, no error to weigh, or no control in
    # scope) follow as the query ranked them, and it returns only those on this page. A
    # tested arm always has a control, so its excess is a number.
    tests = [_test(row, boundary) for row in rows if row["tested"]]
    for test, adjusted in zip(tests, holm([t.effect.p_value for t in tests]), strict=True):
        test.adjusted = adjusted
        test.suspect = adjusted is not None and adjusted < engine.alpha and (test.excess or 0) > 0
    tests.sort(
        key=lambda t: (
            not t.suspect,
            t.adjusted if t.adjusted is not None else 2.0,
            -(t.excess or 0.0),
        )
    )
    # the others' places in the whole ranking follow the tested arms' (`position` from 1)
    placed = dict(enumerate(tests)) | {
        len(tests) + int(row["position"]) - 1: _test(row, boundary)
        for row in rows
        if not row["tested"] and not row["is_control"]
    }
    totals = rows[0] if rows else {"treatments": 0, "controls": 0, "without_control": 0}
    places = [i for i in range(page.offset, page.offset + page.limit) if i in placed]
    shown = Rows([placed[i] for i in places], int(totals["treatments"]), page)
    # suspects rank first, so their places are their order among the tests; on any page
    suspects = [_ranked(t, i + 1, all_errors) for i, t in enumerate(tests) if t.suspect]
    ranked = [_ranked(placed[i], i + 1, all_errors) for i in places]
    on_page = {t.experiment: _control(t.row) for t in shown}
    control_rows = [
        {**_entry(control, control, all_errors), "excess_errors": 0.0}
        for control in on_page.values()
        if int(control["units"])
    ]
    without_control = int(totals["without_control"])
    return {
        "window": window.__dict__,
        "service": service,
        "route": route,
        "ranked": ranked,
        "suspects": suspects,
        "controls": control_rows,
        "all_errors": all_errors,
        "scope": scope,
        "without_control": without_control,
        "method": {
            "name": METHOD,
            "multiplicity": "holm",
            "suspects": sum(t.effect.p_value is not None for t in tests),
            "why": "an incident window is chosen once, after the fact: one look, "
            "Holm-corrected over every treatment tested",
        },
        "overflow": {
            "ranked": shown.overflow(),
            "suspects": len(suspects),
            "controls": int(totals["controls"]),
        },
        "verdict": _verdict(scope, suspects, without_control),
        "registry_events": engine.registry.events(window.start, window.end),
    }


NAMED = 10
"""How many suspects the verdict names (the rest are counted)."""


def _verdict(scope: dict[str, Any], suspects: list[dict[str, Any]], without_control: int) -> str:
    """One line for the on-call: the suspects, else why none is named."""
    if scope["empty"]:
        return f"no verdict: {scope['empty']}"
    named = [f"{r['experiment']}={r['variant']}" for r in suspects[:NAMED]]
    if len(suspects) > NAMED:
        named.append(f"{len(suspects) - NAMED} more suspects")
    unweighed = f"; {words.unweighed(without_control)}" if without_control else ""
    if named:
        return ", ".join(named) + unweighed
    return "no experiment stands out: every arm fails alike or the evidence is too thin" + unweighed


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

    row: dict[str, Any]  # the treatment's sums and, as control_*, its control's
    effect: Effect
    excess: float | None  # errors beyond the control's rate; None without a control
    adjusted: float | None = None
    suspect: bool = False

    @property
    def experiment(self) -> str:
        return self.row["experiment"]


_CONTROL = "control_"


def _control(row: dict[str, Any]) -> dict[str, Any]:
    """The control's sums from a treatment's row (its ``control_*`` columns)."""
    return {
        "experiment": row["experiment"],
        **{k.removeprefix(_CONTROL): v for k, v in row.items() if k.startswith(_CONTROL)},
    }


def _test(row: dict[str, Any], boundary: Boundary) -> _Test:
    arm, c = ArmStats.from_row(row), ArmStats.from_row(_control(row))
    effect = error_rate_effect(arm, c, boundary)
    if not c.units:
        effect.note = f"its control ({c.variant}) has no request in scope: nothing to compare with"
        return _Test(row, effect, None)
    return _Test(row, effect, arm.errors - arm.requests * c.error_rate)


def _entry(row: dict[str, Any], control: dict[str, Any], all_errors: int) -> dict[str, Any]:
    arm, c = ArmStats.from_row(row), ArmStats.from_row(control)
    return {
        "experiment": row["experiment"],
        "variant": arm.variant,
        "units": arm.units,
        "requests": arm.requests,
        "unidentified_requests": int(row["unidentified_requests"]),
        "errors": arm.errors,
        "error_rate": arm.error_rate,
        "control_error_rate": c.error_rate,
        # without a control in scope (no units) there is nothing to shift from or exceed
        "p95_shift_ms": float(row["p95_ms"]) - float(control["p95_ms"]) if c.units else None,
        "error_share": arm.errors / all_errors if all_errors else 0.0,
        "excess_share": None
        if not c.units
        else max(0.0, arm.errors - arm.requests * c.error_rate) / all_errors
        if all_errors
        else 0.0,
        "is_control": arm.variant == c.variant,
    }


def _ranked(test: _Test, rank: int, all_errors: int) -> dict[str, Any]:
    """A tested or untested arm as people read it; ``rank``: its place in the whole ranking."""
    low, high = test.effect.interval or (None, None)
    requests = int(test.row["requests"])
    return {
        "rank": rank,
        **_entry(test.row, _control(test.row), all_errors),
        "excess_errors": test.excess,
        "excess_errors_ci": [
            None if low is None else low * requests,
            None if high is None else high * requests,
        ],
        "error_rate_diff_ci": None if low is None else [low, high],
        "p_value": test.effect.p_value,
        "note": test.effect.note,
        "adjusted_p_value": test.adjusted,
        "suspect": test.suspect,
    }
