"""Incident attribution: which experiment's variant explains the errors in a window.

Each treatment is compared with its own experiment's control on the requests in scope (the
same score test and delta method as the report); its excess errors come with an interval.
Suspects are ranked by evidence, and the p-values are Holm-corrected for the number of
suspects: with many experiments running, one of them always looks worst by chance. A
service-wide outage that every arm shares makes no variant differ from its control, so it
names no experiment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exptrace.query.inference import ArmStats, Boundary, error_rate_effect, holm

if TYPE_CHECKING:
    from exptrace.query.api import Page, Queries, Window


def _controls(queries: Queries) -> dict[str, str]:
    return {e.id: e.control for e in queries.registry.list()}


def attribute(
    queries: Queries, window: Window, service: str, route: str, page: Page
) -> dict[str, Any]:
    """Suspects with excess errors and intervals; ``suspects`` names only the significant."""
    params = {
        **window.params(),
        "service": service,
        "route": route,
        "experiment": "",
        "unit_attribute": queries.unit_attribute,
        "trace_horizon_seconds": queries.trace_horizon_seconds,
    }
    rows = queries.run("incident_arms", params)
    boundary = Boundary(queries.method, queries.alpha, queries.tuning_units)
    controls = _controls(queries)
    by_experiment: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], {})[row["variant"]] = row
    all_errors = int(rows[0]["all_errors"]) if rows else 0
    ranked: list[dict[str, Any]] = []
    control_rows: list[dict[str, Any]] = []
    for experiment, arms in by_experiment.items():
        control = controls.get(experiment, "control")
        if control not in arms:
            continue
        c = ArmStats.from_row(arms[control])
        for variant, row in arms.items():
            arm = ArmStats.from_row(row)
            entry = {
                "experiment": experiment,
                "variant": variant,
                "units": arm.units,
                "requests": arm.requests,
                "errors": arm.errors,
                "error_rate": arm.error_rate,
                "control_error_rate": c.error_rate,
                "p95_shift_ms": float(row["p95_ms"]) - float(arms[control]["p95_ms"]),
                "error_share": arm.errors / all_errors if all_errors else 0.0,
                "is_control": variant == control,
            }
            if variant == control:
                control_rows.append({**entry, "excess_errors": 0.0})
                continue
            effect = error_rate_effect(arm, c, boundary)
            low, high = effect.interval or (None, None)
            entry.update(
                excess_errors=arm.errors - arm.requests * c.error_rate,
                excess_errors_ci=[
                    None if low is None else low * arm.requests,
                    None if high is None else high * arm.requests,
                ],
                p_value=effect.p_value,
                note=effect.note,
            )
            ranked.append(entry)
    for entry, adjusted in zip(ranked, holm([r["p_value"] for r in ranked]), strict=True):
        entry["adjusted_p_value"] = adjusted
        entry["suspect"] = (
            adjusted is not None and adjusted < queries.alpha and entry["excess_errors"] > 0
        )
    ranked.sort(
        key=lambda r: (
            not r["suspect"],
            r["adjusted_p_value"] if r["adjusted_p_value"] is not None else 2.0,
            -r["excess_errors"],
        )
    )
    suspects = sum(r["suspect"] for r in ranked)
    shown = page.cut(ranked)
    on_page = {r["experiment"] for r in shown}
    named = [f"{r['experiment']}={r['variant']}" for r in shown if r["suspect"]]
    if suspects > len(named):
        named.append(f"{suspects - len(named)} more suspects beyond this page")
    return {
        "window": window.__dict__,
        "service": service,
        "route": route,
        "ranked": list(shown),
        "suspects": [r for r in shown if r["suspect"]],
        "controls": [c for c in control_rows if c["experiment"] in on_page],
        "all_errors": all_errors,
        "method": {"name": queries.method, "multiplicity": "holm", "suspects": len(ranked)},
        "overflow": {
            "ranked": shown.overflow(),
            "suspects": suspects,
            "controls": len(control_rows),
        },
        "verdict": (
            ", ".join(named)
            if named
            else "no experiment stands out: every arm fails alike or the evidence is too thin"
        ),
        "registry_events": queries.registry.events(window.start, window.end),
    }
