"""The watcher's rounds over known truth: a failing variant and an A/A experiment, through
the real schema; findings stored on change only, rollback under the policy, state that
survives a new watcher (a restart)."""

from __future__ import annotations

import datetime as dt
import json

from exptrace.query import Queries
from exptrace.query.core.decisions import DecisionLog
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.watch import Watcher
from tests.query.synth import insert_clustered

AN_HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")


def _running(registry: Registry, experiment_id: str, availability: float = 0.9) -> None:
    """Running since an hour ago; a loose SLO by default, so burn stays quiet."""
    experiment = Experiment(
        experiment_id, variants={"control": 1, "treatment": 1}, slo={"availability": availability}
    )
    registry.create(experiment, "test")
    registry.start(experiment_id, "test")
    registry.update(experiment_id, "test", start_time=AN_HOUR_AGO)  # its data is older


def _firing(watcher: Watcher) -> set[tuple[str, str, str]]:
    return {(r["experiment"], r["variant"], r["rule"]) for r in watcher.status()["firing"]}


def test_a_failing_variant_fires_once_is_rolled_back_under_the_policy_and_resolves(receiver):
    store = receiver.store
    insert_clustered(store, units=4000, seed=31, error_rate=0.01, error_factor=4.0, prefix="bad-")
    insert_clustered(store, units=4000, seed=32, prefix="aa-")
    registry = Registry(store)
    for experiment_id in ("bad-0", "aa-0"):
        _running(registry, experiment_id)
    watcher = Watcher(Queries(store, registry))

    first = watcher.round()
    assert first["experiments"] == 2 and first["rollbacks"] == []  # notify: only reported
    assert _firing(watcher) == {("bad-0", "treatment", "error_rate")}
    [bad] = [r for r in watcher.state("bad-0") if r["rule"] == "error_rate"]
    window = bad["detail"]["window"]
    assert window["start"].startswith(AN_HOUR_AGO[:16] + ":00")  # from the minute it started
    assert watcher.round()["changes"] == []  # nothing new: nothing written
    assert watcher.history().total == len(first["changes"]) == 10  # 5 rules x 2 experiments
    rules = {"error_rate", "latency", "burn_page", "burn_ticket", "srm"}
    assert {r["rule"] for r in watcher.state("aa-0")} == rules

    registry.set_policy("bad-0", "rollback", "oncall")
    restarted = Watcher(Queries(store, registry))  # a new watcher reads the same truth
    acted = restarted.round()
    [action] = acted["rollbacks"]
    assert action["rollback"]["rolled_back"] == ["treatment"]
    assert action["decision"]["actor"] == "watcher"
    assert registry.rollbacks() == {"bad-0": ["treatment"]}
    [decision] = DecisionLog(store, registry).entries()
    assert decision["decision"] == "rollback" and "fails error_rate" in decision["reason"]
    [timed] = DecisionLog(store, registry).time_to_decision()["experiments"]
    assert timed["first_conclusive_at"] == bad["since"]  # the first round's fail
    assert 0 <= timed["seconds_from_conclusive"] < 3600

    resolved = restarted.round()
    assert resolved["rollbacks"] == [] and _firing(restarted) == set()
    moved = {(c["rule"], c["previous"], c["state"]) for c in resolved["changes"]}
    assert ("error_rate", "fail", "rolled_back") in moved
    assert restarted.round()["rollbacks"] == []  # rolled back once, never again

    registry.stop("aa-0", "test")
    stopped = restarted.round()
    assert stopped["experiments"] == 1
    assert {c["state"] for c in stopped["changes"] if c["experiment"] == "aa-0"} == {"stopped"}
    rounds = watcher.rounds(limit=10)
    assert len(rounds) == 6 and all(r["error"] == "" for r in rounds)
    assert json.loads(json.dumps(watcher.history("bad-0")))  # JSON all the way down


def test_no_query_view_takes_the_name_of_a_table():
    """Every ``sql/NAME.sql`` becomes the view ``exptrace_NAME`` in ``exptrace up``: a view
    named like a table would replace it."""
    from exptrace.ingest.schema.ddl import Schema
    from exptrace.query import schema_parts

    parts = schema_parts()
    tables = {t.name for t in Schema(**parts).tables()}
    assert {name for name, _ in parts["query_tables"]} <= tables
    assert not {name for name, _ in parts["query_views"]} & tables


def test_a_sample_ratio_mismatch_fires_but_is_never_rolled_back(receiver):
    store = receiver.store
    insert_clustered(store, units=4000, seed=33, prefix="split-")  # 50/50 in the data
    registry = Registry(store)
    registry.create(Experiment("split-0", variants={"control": 9, "treatment": 1}), "test")
    registry.start("split-0", "test")
    registry.update("split-0", "test", start_time=AN_HOUR_AGO)
    registry.set_policy("split-0", "rollback", "test")
    watcher = Watcher(Queries(store, registry))
    outcome = watcher.round()
    assert _firing(watcher) == {("split-0", "", "srm")}
    assert outcome["rollbacks"] == [] and registry.rollbacks() == {}


def test_a_fast_experiment_caused_burn_pages_and_rolls_back_under_the_policy(receiver):
    store = receiver.store
    insert_clustered(store, units=4000, seed=34, error_rate=0.01, error_factor=4.0, prefix="hot-")
    registry = Registry(store)
    _running(registry, "hot-0", availability=0.999)  # 3 points of excess: 30 budgets
    registry.set_policy("hot-0", "rollback", "test")
    watcher = Watcher(Queries(store, registry))
    outcome = watcher.round()
    assert ("hot-0", "treatment", "burn_page") in _firing(watcher)
    [burn] = [r for r in watcher.state("hot-0") if r["rule"] == "burn_page"]
    assert burn["detail"]["reason"] == "page when 1h and 5m both exceed 14.4x"
    [action] = outcome["rollbacks"]  # once, though two rules fail
    assert action["rollback"]["rolled_back"] == ["treatment"]


def test_a_sparse_tail_of_ten_minute_requests_is_reported_not_a_crash(receiver):
    """About 1% of requests take ten minutes (timeouts) in both arms: the p99 sits on the gap
    and its interval reaches far into the tail. The report says the relative interval is
    unbounded (null) instead of failing, and the watch round evaluates every experiment
    (a stranger saw an OverflowError answer 500 and stop every round, for all experiments)."""
    import random

    from exptrace.query import Window
    from tests.query.synth import Request, send

    rng = random.Random(7)
    requests = [
        Request(
            "checkout",
            "/checkout",
            {"tail-0": variant},
            duration_ms=600_000.0 if rng.random() < 0.01 else rng.expovariate(1 / 12),
            ago_seconds=60 + 3000 * rng.random(),
            attributes={"exptrace.unit": f"{variant}-user-{i % 300}"},
        )
        for variant in ("control", "treatment")
        for i in range(3000)
    ]
    send(receiver, requests)
    insert_clustered(receiver.store, units=400, seed=33, prefix="calm-")
    registry = Registry(receiver.store)
    for experiment_id in ("tail-0", "calm-0"):
        _running(registry, experiment_id)
    queries = Queries(receiver.store, registry)
    report = queries.report("tail-0", Window.parse(last=dt.timedelta(hours=2)))
    [p99] = [e for e in report["comparisons"][0]["metrics"] if e["metric"] == "latency_p99"]
    assert p99["relative_interval"][1] is None  # unbounded: the tail is too sparse to bound it
    from exptrace.query.web.page_effects import effects_table

    assert "-100.0%, unbounded]" in effects_table(report)  # the page says so, not a bare -
    watcher = Watcher(queries)
    assert watcher.round()["experiments"] == 2
    assert {r["experiment"] for r in watcher.state()} == {"tail-0", "calm-0"}


def test_an_experiment_whose_analysis_fails_leaves_the_others_watched(receiver, monkeypatch):
    """A defect in one experiment's analysis (here injected: its report raises) must not
    leave every other running experiment unwatched: the round evaluates the rest, keeps the
    failing one's states, says which failed and why in the round and its record."""
    from exptrace.query.core import report as report_module
    from exptrace.query.text import render_watch

    store = receiver.store
    insert_clustered(store, units=4000, seed=41, error_rate=0.01, error_factor=4.0, prefix="bad-")
    insert_clustered(store, units=400, seed=42, prefix="odd-")
    registry = Registry(store)
    for experiment_id in ("bad-0", "odd-0"):
        _running(registry, experiment_id)
    build = report_module.Report.build

    def failing(self):
        if self.experiment == "odd-0":
            raise ArithmeticError("a defect in this experiment's analysis")
        return build(self)

    monkeypatch.setattr(report_module.Report, "build", failing)
    watcher = Watcher(Queries(store, registry))
    outcome = watcher.round()
    assert outcome["failed"] == {"odd-0": "ArithmeticError: a defect in this experiment's analysis"}
    assert _firing(watcher) == {("bad-0", "treatment", "error_rate")}
    # its burn rates, read apart, are still judged; its report's rules wait for a good read
    assert {r["rule"] for r in watcher.state("odd-0")} == {"burn_page", "burn_ticket"}
    assert "could not evaluate odd-0" in render_watch.round_(outcome)
    [last] = watcher.rounds()
    assert "odd-0: ArithmeticError" in last["error"]


def test_watch_state_shows_the_last_rounds_evaluation_not_the_one_stored_with_the_change(receiver):
    """A rule stays inconclusive while its reason changes (first no traffic in the treatment,
    then too little of it): the state is stored once, but `watch state` shows what the last
    round found (strangers saw "no traffic in 'B'" beside 587 of its requests)."""
    from exptrace.query.text import render_watch
    from tests.query.synth import Request, send

    def requests(variant: str, users: int) -> list[Request]:
        return [
            Request(
                "checkout",
                "/checkout",
                {"thin-0": variant},
                duration_ms=20.0,
                ago_seconds=120 + i,
                attributes={"exptrace.unit": f"{variant}-{i}"},
            )
            for i in range(users)
        ]

    registry = Registry(receiver.store)
    _running(registry, "thin-0")
    watcher = Watcher(Queries(receiver.store, registry))
    send(receiver, requests("control", 40))
    watcher.round()
    send(receiver, requests("treatment", 12))
    changes = watcher.round()["changes"]
    assert not [c for c in changes if c["rule"] == "error_rate"]  # still inconclusive
    [row] = [r for r in watcher.status("thin-0")["state"] if r["rule"] == "error_rate"]
    assert row["detail"]["verdict"].startswith("no traffic in 'treatment'")
    assert row["latest"]["units"] == 12
    text = render_watch.state(watcher.status("thin-0"))
    assert "evaluation (last round)" in text and "(12 vs 40 units)" in text
    assert "no traffic" not in text
    restarted = Watcher(Queries(receiver.store, registry))  # no round of its own yet
    assert "evaluation (when it entered the state)" in render_watch.state(restarted.status())


def test_burn_rules_do_not_pass_an_arm_they_could_not_judge(receiver):
    """Traffic in the treatment only: no burn window can compare it with control, so its
    burn rules are inconclusive, not a green `pass` in the gate's rule map, and the burn row
    says why (a stranger saw `pass` over arms with nothing to compare)."""
    from tests.query.synth import Request, send

    registry = Registry(receiver.store)
    _running(registry, "lone-0")
    send(
        receiver,
        [
            Request(
                "checkout",
                "/checkout",
                {"lone-0": "treatment"},
                duration_ms=20.0,
                error=i % 3 == 0,
                ago_seconds=120 + i,
                attributes={"exptrace.unit": f"user-{i}"},
            )
            for i in range(300)
        ],
    )
    queries = Queries(receiver.store, registry)
    watcher = Watcher(queries)
    watcher.round()
    burn = {r["rule"]: r["state"] for r in watcher.state("lone-0") if r["rule"].startswith("burn")}
    assert burn == {"burn_page": "inconclusive", "burn_ticket": "inconclusive"}
    [row] = [r for r in queries.burn_rates() if r["experiment"] == "lone-0"]
    assert row["status"] == "ok" and row["judged"] == {"page": False, "ticket": False}
    assert row["reason"] == "not judged: no request in control to compare with"
    from exptrace.query.text import render, render_watch

    assert "NOT JUDGED" in render.burn([row])  # not a green OK
    state = render_watch.state(watcher.status("lone-0"))
    assert "not judged: no request in control to compare with" in state


def test_a_burning_arm_the_comparison_does_not_confirm_is_inconclusive_not_pass():
    """The burn view says page while the always-valid error-rate comparison does not fail
    yet: the watcher's burn rule waits (inconclusive), it does not contradict the burn view
    with a `pass` (a stranger saw PAGE in `exptrace burn` beside `burn_page pass`)."""
    from exptrace.query.core.watch import evaluate_burn

    row = {
        "experiment": "e",
        "variant": "B",
        "at": "2026-12-08 00:00:00",
        "reason": "page when 1h and 5m both exceed 14.4x",
        "excess_burn_rates": {},
        "excess_intervals": {},
        "covered": {},
        "status": "page",
        "judged": {"page": True, "ticket": True},
    }
    unconfirmed = {f.rule: f.state for f in evaluate_burn(row, [], worse=False)}
    assert unconfirmed == {"burn_page": "inconclusive", "burn_ticket": "pass"}
    confirmed = {f.rule: f.state for f in evaluate_burn(row, [], worse=True)}
    assert confirmed == {"burn_page": "fail", "burn_ticket": "pass"}
