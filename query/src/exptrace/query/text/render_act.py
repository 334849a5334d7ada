"""The CLI's text for rollbacks, freezes and decisions."""

from __future__ import annotations

from typing import Any

from exptrace.query.text.render import table


def rollback(data: dict[str, Any]) -> str:
    variants = ", ".join(data["rolled_back"])
    return (
        f"Rolled back {variants} of {data['experiment']}: services send these units to "
        f"{data['control']} from their next registry poll. Reason: {data['reason']}"
    )


def freeze(data: dict[str, Any]) -> str:
    if data["frozen"]:
        return f"Experiments are frozen since {data['at']} by {data['actor']}: {data['reason']}"
    why = f": {data['reason']}" if data["reason"] else ""
    return f"Experiments are not frozen (unfrozen {data['at']} by {data['actor']}{why})"


def decision(data: dict[str, Any]) -> str:
    return (
        f"Decided {data['decision']} for {data['experiment_id']} at {data['at']} "
        f"by {data['actor']}: {data['reason']}"
    )


def decisions(data: dict[str, Any]) -> str:
    """Time-to-decision per experiment, then the average and the count over target."""
    rows = [
        [
            r["experiment"],
            r["status"],
            str(r["ended_at"] or "-")[:19],
            r["decision"] or "-",
            str(r["decided_at"] or "-")[:19],
            _hours(r["seconds"]),
            _hours(r["waiting_seconds"]),
        ]
        for r in data["experiments"]
    ]
    average = _hours(data["average_seconds"])
    return (
        table(
            ["experiment", "status", "ended (UTC)", "decision", "decided (UTC)", "took", "waiting"],
            rows,
        )
        + f"\nTime to decision ({data['clock']}): average {average} over {data['decided']} "
        f"decided; {data['pending']} ended without a decision; {data['over_target']} over "
        f"{_hours(data['target_seconds'])}"
    )


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"
