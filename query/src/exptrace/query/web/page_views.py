"""The two views the seed names: on-call (``/ui/oncall``) and executive (``/ui/executive``),
read from the watcher's findings, the burn rates, the audit log and the decision log."""

from __future__ import annotations

import json

from starlette.requests import Request

from exptrace.query.core import (
    DECISIONS,
    FIRING,
    MAX_LIMIT,
    SEVERITY,
    DecisionLog,
    Page,
    Queries,
    Registry,
    Watcher,
    burn,
    json_safe,
)
from exptrace.query.web.charts import esc
from exptrace.query.web.html_parts import badge, path_segment, table

LONG_WINDOWS = tuple(dict.fromkeys(rule.long for rule in burn.RULES))
"""The burn rules' long windows, the ones a status is judged on."""
LONGEST_WINDOW = max(burn.WINDOWS, key=burn.WINDOWS.__getitem__)
"""SLO impact is the excess burn over the longest window."""

RECENT = 20
"""Rows in the on-call view's recent rollbacks and alerts."""


def _link(experiment_id: str) -> str:
    return f'<a href="/ui/experiments/{esc(path_segment(experiment_id))}">{esc(experiment_id)}</a>'


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


class ViewPages:
    """Builds the bodies of ``/ui/oncall`` and ``/ui/executive``."""

    def __init__(self, queries: Queries, registry: Registry) -> None:
        self.queries, self.registry = queries, registry
        self.watcher = Watcher(queries, registry)

    def oncall(self, request: Request) -> tuple[str, str]:
        """Running experiments, what fires, experiment-caused burn, recent rollbacks and
        alerts (the freeze banner is on every page)."""
        running = self.registry.list("running")
        state = self.watcher.state()
        firing = [r for r in state if r["state"] == FIRING]
        burning = json_safe(self.queries.burn_rates(limit=MAX_LIMIT))
        last = next(iter(self.watcher.rounds()), None)
        parts = [
            f'<p class="facts">{len(running)} experiments in production; {len(firing)} rules '
            "firing; "
            + (f"last watch round {esc(last['at'][:19])} UTC." if last else "no watch round yet.")
            + "</p>",
            "<h2>Breaches</h2>",
            table(
                ["experiment", "variant", "rule", "severity", "since (UTC)", "what"],
                [
                    [
                        _link(r["experiment"]),
                        esc(r["variant"] or "all"),
                        esc(r["rule"]),
                        badge(SEVERITY[r["rule"]], "fail"),
                        esc(r["since"][:19]),
                        esc(r["detail"].get("verdict") or r["detail"].get("reason") or ""),
                    ]
                    for r in firing
                ],
                raw_columns=frozenset({0, 3}),
            ),
            "<h2>Running experiments</h2>",
            table(
                ["experiment", "owner", "started (UTC)", "rules firing"],
                [
                    [
                        _link(e.id),
                        esc(e.owner or "-"),
                        esc(str(e.start_time or "-")[:19]),
                        esc(str(sum(1 for r in firing if r["experiment"] == e.id))),
                    ]
                    for e in running
                ],
                raw_columns=frozenset({0}),
            ),
            "<h2>Error-budget burn by experiment</h2>",
            table(
                ["experiment", "variant", *(f"excess {w}" for w in LONG_WINDOWS), "status"],
                [
                    [
                        _link(r["experiment"]),
                        esc(r["variant"]),
                        *(esc(_rate(r["excess_burn_rates"][w])) for w in LONG_WINDOWS),
                        badge(r["status"], r["status"]),
                    ]
                    for r in burning
                    if r["status"] != "control"
                ][:RECENT],
                raw_columns=frozenset({0, 5}),
            ),
            "<h2>Recent rollbacks</h2>",
            table(
                ["at (UTC)", "experiment", "by", "rolled back", "reason"],
                [
                    [
                        esc(str(h["at"])[:19]),
                        _link(h["experiment_id"]),
                        esc(h["actor"]),
                        esc(", ".join(json.loads(h["new"])["rolled_back"])),
                        esc(json.loads(h["new"]).get("reason", "")),
                    ]
                    for h in reversed(self.registry.history())
                    if h["action"] == "rollback"
                ][:RECENT],
                raw_columns=frozenset({1}),
            ),
            "<h2>Recent alerts: fired, rolled back, stopped</h2>",
            table(
                ["at (UTC)", "experiment", "variant", "rule", "state"],
                [
                    [
                        esc(r["at"][:19]),
                        _link(r["experiment"]),
                        esc(r["variant"] or "all"),
                        esc(r["rule"]),
                        badge(r["state"], r["state"]),
                    ]
                    for r in self.watcher.history(page=Page(RECENT * 5))
                    if r["state"] in (FIRING, "rolled_back", "stopped")
                ][:RECENT],
                raw_columns=frozenset({1, 4}),
            ),
        ]
        return "On call", "".join(parts)

    def executive(self, request: Request) -> tuple[str, str]:
        """Active experiments, time to decision, decisions taken, SLO impact by experiment."""
        experiments = self.registry.list()
        active = [e for e in experiments if e.status == "running"]
        timing = DecisionLog(self.registry.store, self.registry).time_to_decision()
        decided = {d: 0 for d in DECISIONS}
        for row in timing["experiments"]:
            if row["decision"]:
                decided[row["decision"]] += 1
        average = timing["average_seconds"]
        impact: dict[str, float] = {}
        for r in json_safe(self.queries.burn_rates(limit=MAX_LIMIT)):
            value = r["excess_burn_rates"][LONGEST_WINDOW]
            if r["status"] != "control" and value is not None:
                impact[r["experiment"]] = max(impact.get(r["experiment"], value), value)
        parts = [
            table(
                ["measure", "value"],
                [
                    ["active experiments", f"{len(active)} of {len(experiments)} registered"],
                    [
                        "average time to decision",
                        "-"
                        if average is None
                        else f"{average / 3600:.1f} h "
                        f"over {timing['decided']} decided (target "
                        f"{timing['target_seconds'] / 3600:.0f} h)",
                    ],
                    ["ended, waiting for a decision", str(timing["pending"])],
                    ["over the target", str(timing["over_target"])],
                    *[[f"decided: {d}", str(n)] for d, n in decided.items()],
                ],
            ),
            "<h2>SLO impact by experiment</h2>",
            '<p class="facts">The largest excess error-budget burn over control of any '
            "treatment in the last 3 days (1x spends a 30-day budget in 30 days).</p>",
            table(
                ["experiment", "excess burn, 3 d"],
                [
                    [_link(e), esc(_rate(v))]
                    for e, v in sorted(impact.items(), key=lambda kv: -kv[1])
                ],
                raw_columns=frozenset({0}),
            ),
        ]
        return "Executive view", "".join(parts)
