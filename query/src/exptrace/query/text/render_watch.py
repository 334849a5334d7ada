"""The CLI's text for the watcher: its state, its history, a round, a policy."""

from __future__ import annotations

from typing import Any

from exptrace.query.text.render import table


def _summary(detail: dict[str, Any]) -> str:
    if "verdict" in detail:
        return f"{detail['verdict']} ({detail['units']} vs {detail['control_units']} units)"
    if "mismatch" in detail:
        return f"units {detail['observed']}, p {detail['p_value']:.3g}"
    if "reason" in detail:  # a burn rule's
        return detail["reason"] or "no burn rule fires"
    return ""


def _rows(rows: list[dict[str, Any]], moment: str) -> list[list[Any]]:
    """One line a row, with its latest evaluation where there is one (``watch state``: the
    last round's), else the one stored with the change."""
    return [
        [
            str(r[moment])[:19],
            r["experiment"],
            r["variant"] or "-",
            r["rule"],
            r["state"],
            _summary(r.get("latest") or r["detail"]),
        ]
        for r in rows
    ]


def state(data: dict[str, Any]) -> str:
    """Each rule's state, what fires, and the last round."""
    last = data["last_round"]
    when = (
        f"last round {last['at'][:19]} UTC: {last['experiments']} running experiments, "
        f"{last['changes']} changes, {last['seconds']:.2f} s"
        + (f", failed: {last['error']}" if last["error"] else "")
        if last
        else "the watcher has not run a round yet"
    )
    current = any(r.get("latest") for r in data["state"])
    evaluation = "evaluation (last round)" if current else "evaluation (when it entered the state)"
    headers = ["since (UTC)", "experiment", "variant", "rule", "state", evaluation]
    firing = len(data["firing"])
    return f"{table(headers, _rows(data['state'], 'since'))}\n{firing} firing; {when}"


def history(rows: list[dict[str, Any]]) -> str:
    headers = ["at (UTC)", "experiment", "variant", "rule", "state", "evaluation"]
    return table(headers, _rows(rows, "at"))


def round_(data: dict[str, Any]) -> str:
    """One round: what changed and what the watcher did."""
    lines = [
        f"{data['at'][:19]} UTC: {data['experiments']} running experiments, "
        f"{len(data['changes'])} changes"
    ]
    for c in data["changes"]:
        where = f"{c['experiment']} {c['variant'] or '(all variants)'} {c['rule']}"
        lines.append(f"  {where}: {c['previous'] or 'new'} -> {c['state']}")
    for action in data["rollbacks"]:
        rolled = action["rollback"]
        lines.append(
            f"  rolled back {', '.join(rolled['rolled_back'])} of {rolled['experiment']}: "
            f"{rolled['reason']}"
        )
    for experiment, why in data.get("failed", {}).items():
        lines.append(f"  could not evaluate {experiment} (its states are kept): {why}")
    return "\n".join(lines)


def policy(data: dict[str, Any]) -> str:
    return f"Watch policy of {data['experiment']}: {data['policy']}"
