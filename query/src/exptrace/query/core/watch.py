"""The watcher: every running experiment evaluated since its start, findings stored, acted on.

Each round reads the report of every running experiment over ``[start, now)`` (the
always-valid comparison, valid however often it is looked at) and the experiment-caused burn
rates, turns them into one state per variant and rule (``error_rate``, ``latency``,
``burn_page``, ``burn_ticket``; ``srm`` once per experiment), and appends a row
to ``exptrace_watch_findings`` whenever a state changes. That table is the truth pages, API,
gates and a restarted watcher read. A variant that fails under the ``rollback`` policy is rolled
back through the registry and the decision logged (a rolled-back variant is not judged again,
so this happens once, and again after a restart only if it had not happened); under
``notify`` (the default) it is only reported.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exptrace.ingest import StoreError
from exptrace.query.core.answers import MAX_LIMIT, Page, Rows
from exptrace.query.core.decisions import DecisionLog
from exptrace.query.core.queries import Queries
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.rollup import Roller

log = logging.getLogger(__name__)

ACTOR = "watcher"
"""Who the watcher's rollbacks and decisions are logged as."""
RULES = {"error_rate": ("error_rate",), "latency": ("latency_p50", "latency_p95", "latency_p99")}
"""Per-variant rules and the report's metrics each one judges."""
BURN = {"burn_page": "page", "burn_ticket": "ticket"}
"""Per-variant rules from experiment-caused burn (:mod:`exptrace.query.core.burn`): each fails
while the variant's burn status is its value."""
SRM = "srm"
"""The experiment-wide rule (its findings have an empty variant)."""
FIRING = "fail"
"""The state that is an alert; every other state is not."""


@dataclass(frozen=True)
class Finding:
    """One rule's state: ``fail``, ``pass``, ``inconclusive``, ``rolled_back`` (the watcher or
    someone acted) or ``stopped`` (the experiment no longer runs)."""

    experiment: str
    variant: str
    rule: str
    state: str
    detail: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.experiment, self.variant, self.rule


def evaluate_burn(row: dict[str, Any], rolled_back: list[str], worse: bool) -> list[Finding]:
    """The burn findings of one treatment's row of ``Queries.burn_rates``: a burn rule fails
    only while the variant is ``worse`` (its always-valid error-rate comparison fails), so
    the per-request burn interval never alerts on its own (it is ``inconclusive`` while the
    burn rates say so and the comparison does not yet); it passes only where one of its
    windows could judge the arm (else ``inconclusive``: no all-clear over no data)."""
    detail = {
        "at": row["at"],
        "reason": row["reason"],
        "excess_burn_rates": row["excess_burn_rates"],
        "excess_intervals": row["excess_intervals"],
        "covered": row["covered"],
    }
    return [
        Finding(
            row["experiment"],
            row["variant"],
            rule,
            _burn_state(row, status, rolled_back, worse),
            detail,
        )
        for rule, status in BURN.items()
    ]


def _burn_state(row: dict[str, Any], status: str, rolled_back: list[str], worse: bool) -> str:
    if row["variant"] in rolled_back:
        return "rolled_back"
    if row["status"] == status:  # burning: an alert once the comparison confirms it
        return FIRING if worse else "inconclusive"
    return "pass" if row["judged"][status] else "inconclusive"


def evaluate(report: dict[str, Any], rolled_back: list[str]) -> list[Finding]:
    """The findings of one report: per treatment and rule, its decision from the report's
    metrics (``fail`` when a guardrail is crossed, ``pass`` when all stay within their
    margins, else ``inconclusive``); ``rolled_back`` treatments are not judged again."""
    experiment = report["experiment"]
    findings = []
    for comparison in report["comparisons"]:
        variant = comparison["variant"]
        for rule, names in RULES.items():
            metrics = [m for m in comparison["metrics"] if m["metric"] in names]
            detail = {
                "window": report["window"],
                "units": comparison["units"],
                "control_units": comparison["control_units"],
                "verdict": comparison["verdict"],
                "metrics": metrics,
            }
            if variant in rolled_back:
                state = "rolled_back"
            elif any(m["guardrail_crossed"] for m in metrics):
                state = FIRING
            elif metrics and all(m["within_margin"] for m in metrics):
                state = "pass"
            else:
                state = "inconclusive"
            findings.append(Finding(experiment, variant, rule, state, detail))
    srm = report.get("sample_ratio")
    if srm is not None:
        state = FIRING if srm["mismatch"] else "pass"
        findings.append(Finding(experiment, "", SRM, state, {"window": report["window"], **srm}))
    return findings


class Watcher:
    """One round at a time over the store; the state between rounds lives in the store."""

    def __init__(self, queries: Queries, registry: Registry | None = None) -> None:
        self.queries = queries
        self.registry = registry or queries.registry
        self.store = self.registry.store
        self.roller = Roller(self.store, queries.engine)
        self.decisions = DecisionLog(self.store, self.registry)
        self._lock = threading.Lock()
        """One round at a time (the loop's and one asked for over the API)."""
        self.latest: list[Finding] = []
        """The last round's findings, for gauges read without asking the store."""
        self.last_round_at: float | None = None
        """When the last round ended (Unix seconds)."""

    def state(self, experiment: str = "") -> list[dict[str, Any]]:
        """The latest finding per experiment, variant and rule."""
        rows = self.queries.engine.run("watch_state", {"experiment": experiment})
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
        return rows

    def history(self, experiment: str = "", page: Page | None = None) -> Rows:
        """Every state change, newest first; one page of them."""
        rows = self.queries.engine.run_page(
            "watch_history", {"experiment": experiment}, page or Page()
        )
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
        return rows

    def rounds(self, limit: int = 1) -> list[dict[str, Any]]:
        """The latest rounds, newest first."""
        return self.queries.engine.run("watch_recent_rounds", {"limit": limit})

    def status(self, experiment: str = "") -> dict[str, Any]:
        """What the API and CLI show: the last round, the state, and what fires. A state's
        ``detail`` is the evaluation that moved it there (stored on change only); ``latest``
        is this process's last round's evaluation of that rule (None before its first)."""
        state = self.state(experiment)
        latest = {f.key: f.detail for f in self.latest}
        for row in state:
            row["latest"] = latest.get((row["experiment"], row["variant"], row["rule"]))
        return {
            "last_round": next(iter(self.rounds()), None),
            "state": state,
            "firing": [row for row in state if row["state"] == FIRING],
        }

    def round(self) -> dict[str, Any]:
        """Evaluate every running experiment since its start, store what changed, act."""
        with self._lock:
            began = time.monotonic()
            at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            try:
                outcome = self._round(at)
            except StoreError as error:
                self._record(at, 0, 0, time.monotonic() - began, str(error)[:500])
                raise
            seconds = time.monotonic() - began
            failed = "; ".join(f"{e}: {why}" for e, why in outcome["failed"].items())
            self._record(at, outcome["experiments"], len(outcome["changes"]), seconds, failed)
            self.latest, self.last_round_at = outcome.pop("findings"), time.time()
            return outcome

    def _round(self, at: dt.datetime) -> dict[str, Any]:
        previous = {(r["experiment"], r["variant"], r["rule"]): r["state"] for r in self.state()}
        running = [e for e in self.registry.list("running") if e.start_time is not None]
        rollbacks = self.registry.rollbacks()
        findings: list[Finding] = []
        self.roller.roll()  # best effort: what is not rolled is read from the request facts
        reports, failed = self._reports(running)  # each over its whole run so far
        for experiment in running:
            if experiment.id in reports:  # one that failed keeps its states until it is read
                findings += evaluate(reports[experiment.id], rollbacks.get(experiment.id, []))
        ids = {e.id for e in running}
        worse = {
            (f.experiment, f.variant)
            for f in findings
            if f.rule == "error_rate" and f.state == FIRING
        }
        for row in self.queries.burn_rates(limit=MAX_LIMIT):  # the largest excess first
            if row["experiment"] in ids and row["status"] != "control":
                confirmed = (row["experiment"], row["variant"]) in worse
                findings += evaluate_burn(row, rollbacks.get(row["experiment"], []), confirmed)
        for key, state in previous.items():
            if key[0] not in ids and state != "stopped":
                findings.append(Finding(*key, "stopped", {}))
        changes = [f for f in findings if previous.get(f.key) != f.state]
        moment = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if changes:  # stamped when written: what a reader has seen is older than what follows
            self._write(_now(), changes)
        policies = self.registry.policies()
        failing = {
            (f.experiment, f.variant): f
            for f in reversed(findings)  # the first failing rule of a variant gives the reason
            if f.state == FIRING
            and (f.rule in RULES or f.rule == "burn_page")
            and policies.get(f.experiment) == "rollback"
        }
        acted = [self._roll_back(f) for f in failing.values()]
        return {
            "at": moment,
            "experiments": len(running),
            "changes": [{**f.__dict__, "previous": previous.get(f.key)} for f in changes],
            "rollbacks": acted,
            "failed": failed,
            "findings": findings,
        }

    def _reports(
        self, running: list[Experiment]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Every running experiment's report, read together; when that fails for another
        reason than storage, each is read alone, so one experiment whose analysis fails (a
        defect) leaves the others watched. Returns the reports and, per experiment that
        failed, why."""
        try:
            return self.queries.reports(running), {}
        except StoreError:
            raise
        except Exception:
            log.exception("reading every running experiment at once failed: one at a time")
        reports, failed = {}, {}
        for experiment in running:
            try:
                reports[experiment.id] = self.queries.reports([experiment])[experiment.id]
            except StoreError:
                raise
            except Exception as error:
                log.exception("the watcher could not evaluate %s", experiment.id)
                failed[experiment.id] = f"{type(error).__name__}: {error}"[:200]
        return reports, failed

    def _roll_back(self, finding: Finding) -> dict[str, Any]:
        """Send the failing variant's units to control and log the decision, with why."""
        why = finding.detail.get("verdict") or finding.detail.get("reason")
        reason = f"watcher: {finding.variant} fails {finding.rule} ({why})"
        rollback = self.registry.rollback(finding.experiment, finding.variant, reason, ACTOR)
        decision = self.decisions.decide(finding.experiment, "rollback", reason, ACTOR)
        return {"rollback": rollback, "decision": decision}

    def _write(self, moment: str, changes: list[Finding]) -> None:
        columns = ("experiment", "variant", "rule", "state")
        self.store.command(
            "INSERT INTO exptrace_watch_findings (at, experiment_id, variant, rule, state, detail) "
            "SELECT {at:DateTime64(3)}, f.1, f.2, f.3, f.4, f.5 FROM (SELECT arrayJoin(arrayZip("
            "{experiment:Array(String)}, {variant:Array(String)}, {rule:Array(String)}, "
            "{state:Array(String)}, {detail:Array(String)})) AS f)",
            {
                "at": moment,
                **{name: [getattr(f, name) for f in changes] for name in columns},
                "detail": [json.dumps(f.detail, default=str) for f in changes],
            },
        )

    def _record(
        self, at: dt.datetime, experiments: int, changes: int, seconds: float, error: str = ""
    ) -> None:
        try:
            self.store.command(
                "INSERT INTO exptrace_watch_rounds (at, experiments, changes, seconds, error) "
                "VALUES ({at:DateTime64(3)}, {n:UInt32}, {c:UInt32}, {s:Float64}, {e:String})",
                {"at": at, "n": experiments, "c": changes, "s": seconds, "e": error},
            )
        except StoreError:
            if not error:
                raise
            # storage is down: the watch loop says so once, not at every round
            log.debug("the watcher could not record its failed round: %s", error)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class WatchLoop:
    """Run ``round`` every ``interval`` seconds on a thread until :meth:`stop`; a failed round
    is logged and the next one runs on time."""

    def __init__(
        self,
        round: Callable[[], Any],
        interval: float,
        interrupt: Callable[[], None] | None = None,
    ) -> None:
        """``interrupt``: called at :meth:`stop` to cut a long round short (a roll pass
        catching up), so the thread ends before the store it uses is closed."""
        if not interval > 0:
            raise ValueError(f"the watch interval must be above 0 seconds, got {interval}")
        self._round = round
        self._interrupt = interrupt
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exptrace-watch", daemon=True)

    def start(self) -> WatchLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._interrupt is not None:
            self._interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        waiting = False  # for storage that does not answer: one line when it starts and ends
        while not self._stop.is_set():
            try:
                self._round()
            except StoreError:
                if not waiting:
                    log.warning("watch rounds paused: storage does not answer (retrying)")
                waiting = True
            except Exception:  # a round that fails must not end the watching
                log.exception("a watch round failed")
            else:
                if waiting:
                    log.warning("watch rounds run again: storage answers")
                waiting = False
            self._stop.wait(self.interval)
