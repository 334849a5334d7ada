"""The decision log (ship, rollback, iterate) and time-to-decision per experiment.

Append-only: a decision is a row with who, when and why, never edited. Time-to-decision is
counted from the experiment's end (its stop, as the registry records it) to the decision, and
from its first conclusive result (the watcher's first ``fail`` or ``pass`` of a treatment's
error rate or latency, from its findings) to the decision.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exptrace.ingest import Store
from exptrace.query.core.registry import Registry, require_reason
from exptrace.query.errors import RegistryError

DECISIONS = ("ship", "rollback", "iterate")
TARGET_SECONDS = 48 * 3600
"""The seed's target: every experiment decided within 48 hours of its end."""


class DecisionLog:
    """Record decisions and measure how long experiments wait for one."""

    def __init__(self, store: Store, registry: Registry | None = None) -> None:
        self.store = store
        self.registry = registry or Registry(store)

    def decide(self, experiment_id: str, decision: str, reason: str, actor: str) -> dict[str, Any]:
        """Log ``decision`` on a registered experiment (it changes nothing else: a rollback
        reaches traffic through ``Registry.rollback``)."""
        if decision not in DECISIONS:
            raise RegistryError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        require_reason(reason)
        self.registry.get(experiment_id)  # UnknownExperiment when it is not registered
        at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        self.store.command(
            "INSERT INTO exptrace_decisions (at, actor, experiment_id, decision, reason) VALUES "
            "({at:DateTime64(3)}, {actor:String}, {id:String}, {decision:String}, "
            "{reason:String})",
            {"at": at, "actor": actor, "id": experiment_id, "decision": decision, "reason": reason},
        )
        return {
            "at": at,
            "actor": actor,
            "experiment_id": experiment_id,
            "decision": decision,
            "reason": reason,
        }

    def entries(self) -> list[dict[str, Any]]:
        """Every decision, oldest first."""
        return self.store.query(
            "SELECT toString(at) AS at, actor, experiment_id, decision, reason "
            "FROM exptrace_decisions ORDER BY at, experiment_id"
        ).dicts()

    def time_to_decision(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Per experiment that ended or has a decision: its end, the decision that counts
        (the first at or after the end; one taken before the end counts as 0 s), the seconds
        in between, or how long it has waited so far; then the average over decided ones."""
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        by_experiment: dict[str, list[dict[str, Any]]] = {}
        for entry in self.entries():
            by_experiment.setdefault(entry["experiment_id"], []).append(entry)
        conclusive = dict(
            self.store.query(
                "SELECT experiment_id, toString(min(at)) FROM exptrace_watch_findings "
                "WHERE state IN ('fail', 'pass') AND rule IN ('error_rate', 'latency') "
                "GROUP BY experiment_id"
            ).rows
        )
        rows = []
        for experiment in self.registry.list():
            decisions = by_experiment.get(experiment.id, [])
            if experiment.end_time is None and not decisions:
                continue
            row = _row(experiment.id, experiment.status, experiment.end_time, decisions, now)
            first = conclusive.get(experiment.id)
            row["first_conclusive_at"] = first
            row["seconds_from_conclusive"] = (
                max(0.0, (_moment(row["decided_at"]) - _moment(first)).total_seconds())
                if first and row["decided_at"]
                else None
            )
            rows.append(row)
        timed = [r["seconds"] for r in rows if r["seconds"] is not None]
        return {
            "clock": "from the experiment's end (its stop) to the first decision after it; "
            "seconds_from_conclusive: from its first conclusive result to that decision",
            "target_seconds": TARGET_SECONDS,
            "experiments": rows,
            "decided": len(timed),
            "pending": sum(1 for r in rows if r["waiting_seconds"] is not None),
            "average_seconds": sum(timed) / len(timed) if timed else None,
            "over_target": sum(
                1
                for r in rows
                if (r["seconds"] if r["seconds"] is not None else r["waiting_seconds"] or 0)
                > TARGET_SECONDS
            ),
        }


def _row(
    experiment_id: str,
    status: str,
    ended: str | None,
    decisions: list[dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    end = _moment(ended) if ended else None
    after = [d for d in decisions if end is not None and _moment(d["at"]) >= end]
    chosen = after[0] if after else (decisions[-1] if decisions else None)
    seconds = waiting = None
    if end is not None and chosen is not None:
        seconds = max(0.0, (_moment(chosen["at"]) - end).total_seconds())
    elif end is not None:
        waiting = (now - end).total_seconds()
    return {
        "experiment": experiment_id,
        "status": status,
        "ended_at": ended,
        "decision": chosen["decision"] if chosen else None,
        "decided_at": chosen["at"] if chosen else None,
        "decided_by": chosen["actor"] if chosen else None,
        "reason": chosen["reason"] if chosen else None,
        "seconds": seconds,
        "waiting_seconds": waiting,
    }


def _moment(text: Any) -> dt.datetime:
    return text if isinstance(text, dt.datetime) else dt.datetime.fromisoformat(str(text))
