"""The roller and the reports that read what it rolled, on the real schema in chDB.

What a user would see if these failed: a report whose counts differ from the exact one once
minutes are rolled (a request counted in a minute and again in its hour, a user counted once
per hour); data that arrived late never reaching the report; a report that stops at the
last sealed minute instead of now; a watch round that leaves the store unrolled.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from exptrace.query import Queries, Watcher, Window
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.rollup import Roller, coverage
from exptrace.query.core.unit_groups import RELATIVE_ERROR
from tests.query.synth import Request, insert_clustered, send

HOURS = 3


@pytest.fixture
def store(receiver):
    return receiver.store


@pytest.fixture
def queries(store):
    return Queries(store)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _counts(report: dict) -> list[tuple]:
    return [(c["variant"], c["units"], c["requests"], c["errors"]) for c in report["cohorts"]]


def _window() -> Window:
    return Window.parse(last=dt.timedelta(hours=HOURS + 1))


def _agree(rolled: dict, exact: dict) -> None:
    """The unit groups' report counts what the exact one counts; its quantiles are within
    the histogram's stated relative error."""
    assert _counts(rolled) == _counts(exact)
    for g, e in zip(rolled["cohorts"], exact["cohorts"], strict=True):
        for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms"):
            assert g[key] == pytest.approx(e[key], rel=RELATIVE_ERROR), key
    assert rolled["unit"]["identified_units"] == exact["unit"]["identified_units"]
    assert rolled["sample_ratio"] == exact["sample_ratio"]  # the same units: the same check


def test_rolled_minutes_and_hours_count_what_the_exact_report_counts(store, queries):
    """Three hours of users with several requests each: after one roll the report reads whole
    hours, edge minutes and the request facts after them, and every count matches the exact
    report's (a user with requests in many hours is one unit)."""
    insert_clustered(store, units=800, ago_ms=HOURS * 3_600_000, prefix="roll-")
    Registry(store).create(Experiment("roll-0", variants={"control": 1, "treatment": 1}), "t")
    before = queries.report("roll-0", _window())
    assert before["data"]["rolled"] is None  # nothing rolled yet: all from the request facts
    rolled = Roller(store, queries.engine).roll()
    assert rolled["minutes"] > 60 * (HOURS - 1) and rolled["hours"] >= HOURS - 2
    after = queries.report("roll-0", _window())
    exact = queries.report("roll-0", _window(), exact=True)
    assert after["data"]["source"] == "unit groups" and after["data"]["rolled"] is not None
    assert exact["data"]["source"] == "exact"
    _agree(after, exact)
    _agree(before, exact)
    assert [c["verdict"] for c in after["comparisons"]] == [
        c["verdict"] for c in before["comparisons"]
    ]


def test_a_second_pass_without_new_data_rolls_nothing(store, queries):
    insert_clustered(store, units=200, ago_ms=HOURS * 3_600_000, prefix="idle-")
    roller = Roller(store, queries.engine)
    now = _now()  # the same moment: a pass a minute later has a new sealed minute to roll
    roller.roll(now)
    assert roller.roll(now) == {"minutes": 0, "hours": 0, "days": 0}


def test_late_data_in_a_rolled_hour_is_rolled_again_and_reaches_the_report(store, queries):
    """Requests that arrive after their minute was sealed (a client's retries, a log
    replayed after an outage) change that minute's count of request facts: a report asked
    before the next pass reads from the request facts from there on, and the next pass rolls
    the minute again, and its hour; either way the report counts them."""
    insert_clustered(store, units=400, ago_ms=HOURS * 3_600_000, prefix="late-")
    roller = Roller(store, queries.engine)
    roller.roll()
    exact_before = queries.report("late-0", _window(), exact=True)
    # the same experiment, new users, all two hours ago: inside a rolled (sealed) hour
    insert_clustered(
        store, units=300, seed=2, ago_ms=60_000, before_ms=2 * 3_600_000, prefix="late-"
    )
    exact_after = queries.report("late-0", _window(), exact=True)
    assert _counts(exact_after) != _counts(exact_before)
    # before the roller's next pass the report sees that minutes it rolled have grown, and
    # computes from the request facts from before them on: already right, never stale
    before_roll = queries.report("late-0", _window())
    _agree(before_roll, exact_after)
    late_start = _now() - dt.timedelta(hours=2, minutes=2)
    assert before_roll["data"]["from_request_facts"][0] < late_start.isoformat(sep=" ")
    again = roller.roll()
    assert again["minutes"] >= 1 and again["hours"] >= 1
    after_roll = queries.report("late-0", _window())
    _agree(after_roll, exact_after)
    assert (
        after_roll["data"]["from_request_facts"][0] > before_roll["data"]["from_request_facts"][0]
    )


def test_a_window_that_starts_after_users_were_first_seen_counts_them_as_distinct(store, queries):
    """A custom window over the last 75 minutes: its users were first seen hours before, so
    the report counts each user of the window once (distinct counts), as the exact one does.
    (Unit groups read whole minutes: the window starts on one, as ``data.read_from`` says a
    window's start is read.)"""
    insert_clustered(store, units=600, ago_ms=HOURS * 3_600_000, prefix="win-")
    Roller(store, queries.engine).roll()
    start = (_now() - dt.timedelta(minutes=75)).replace(second=0, microsecond=0)
    window = Window.parse(start=start)
    rolled = queries.report("win-0", window)
    assert rolled["data"]["read_from"] == start.isoformat(sep=" ")
    _agree(rolled, queries.report("win-0", window, exact=True))


def test_a_watch_round_rolls_first_and_reads_every_running_experiment_at_once(store, queries):
    insert_clustered(store, units=300, experiments=3, ago_ms=HOURS * 3_600_000, prefix="w-")
    registry = Registry(store)
    started = (_now() - dt.timedelta(hours=HOURS + 1)).strftime("%Y-%m-%d %H:%M:%S")
    for i in range(3):
        registry.create(Experiment(f"w-{i}", variants={"control": 1, "treatment": 1}), "t")
        registry.start(f"w-{i}", "t")
        registry.update(f"w-{i}", "t", start_time=started)
    assert coverage(queries.engine).end is None
    watcher = Watcher(queries, registry)
    assert watcher.round()["experiments"] == 3
    assert coverage(queries.engine).end is not None
    reports = queries.reports(registry.list("running"))
    for i in range(3):
        exact = queries.report(f"w-{i}", exact=True)
        _agree(reports[f"w-{i}"], exact)
        assert reports[f"w-{i}"]["data"]["rolled"] is not None


def test_burn_rates_from_unit_groups_count_what_every_request_fact_counts(store, queries):
    """Evaluated on a whole minute (so every window starts on one), the burn rates read from
    the rolled minutes and hours and the request facts after them count the same requests
    and give the same statuses as the burn rates over every request fact."""
    insert_clustered(store, units=400, experiments=2, ago_ms=7 * 3_600_000, prefix="burn-")
    Roller(store, queries.engine).roll()
    at = _now().replace(second=0, microsecond=0)
    grouped = {(r["experiment"], r["variant"]): r for r in queries.burn_rates(at)}
    exact = {(r["experiment"], r["variant"]): r for r in queries.burn_rates(at, exact=True)}
    assert grouped.keys() == exact.keys() and len(exact) == 4
    for key, row in exact.items():
        for field in ("requests", "control_requests", "burn_rates", "excess_burn_rates", "status"):
            assert grouped[key][field] == row[field], (key, field)


def test_a_window_that_starts_after_what_is_rolled_reads_its_first_partial_minute(store, queries):
    """An experiment started a few seconds into a minute, its traffic right after: nothing
    of its window is rolled yet, so the request facts are read from its exact start and the
    report counts the first seconds' requests too (the watcher's first looks)."""
    insert_clustered(store, units=300, ago_ms=3 * 3_600_000, before_ms=600_000, prefix="new-")
    Roller(store, queries.engine).roll()
    insert_clustered(store, units=300, seed=3, ago_ms=20_000, prefix="new-")
    window = Window.parse(start=_now() - dt.timedelta(seconds=25))
    assert window.start[17:19] != "00" or window.start[20:] != "000000"
    grouped = queries.report("new-0", window)
    assert grouped["data"]["rolled"] is None and grouped["data"]["read_from"] == window.start
    _agree(grouped, queries.report("new-0", window, exact=True))
    assert sum(c["requests"] for c in grouped["cohorts"]) > 0


def test_users_seen_earlier_by_late_data_are_counted_once(receiver, store, queries):
    """Users first seen twenty minutes ago, rolled; then late requests of the same users,
    fifty minutes ago: after the next pass each user is one unit, where it was first seen,
    not also where it was seen first before."""
    users = [f"user-{i}" for i in range(240)]

    def requests(ago: float) -> list[Request]:
        return [
            Request(
                "checkout",
                "/checkout",
                {"move": "AB"[i % 2]},
                duration_ms=20.0 + i % 7,
                ago_seconds=ago + i % 50,
                attributes={"exptrace.unit": user},
            )
            for i, user in enumerate(users)
        ]

    others = [
        Request("checkout", "/checkout", {"move": "A"}, 20.0, ago_seconds=5400, attributes={})
    ]
    send(receiver, others + requests(1200))  # the roller starts an hour and a half ago
    roller = Roller(store, queries.engine)
    roller.roll()
    send(receiver, requests(3000))
    window = Window.parse(last=dt.timedelta(hours=2))
    roller.roll()
    grouped, exact = queries.report("move", window), queries.report("move", window, exact=True)
    assert sum(c["units"] for c in exact["cohorts"]) == len(users)
    _agree(grouped, exact)


@pytest.mark.parametrize("name", ["rollup/stale", "rollup/counts", "rollup/first_request"])
def test_the_late_data_checks_read_the_minute_counts_not_the_facts(store, name):
    """Every report and every roll pass compares the facts per minute with what was rolled:
    read from the facts' ``minute_counts`` projection (rows per part and minute), the check
    costs the same over a day of 10 million spans as over a few; read from the facts
    themselves, it scanned every fact's start time in the window (70 ms of a 355 ms report)."""
    from exptrace.query.core.sqlfiles import load

    insert_clustered(store, units=50)
    sql = load(name)
    end = _now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    params = {"start": end - dt.timedelta(days=1), "end": end, "rolled_from": end}
    plan = store.query(f"EXPLAIN {sql.text}", sql.bind(params)).rows
    assert "ReadFromMergeTree (minute_counts)" in str(plan)


@pytest.mark.parametrize("bucket", [600, 3600])
def test_the_experiment_series_from_unit_groups_count_what_the_request_facts_count(
    store, queries, bucket
):
    """The experiment page's charts (error rate and p95 per bucket) over hours of traffic:
    read from the rolled minutes (10-minute buckets) or hours (hourly buckets) and the
    request facts after them, every bucket counts the requests and errors the exact series
    counts, and its p95 is within the histogram's relative error."""
    from exptrace.query.core.series import Series, as_datetime

    insert_clustered(store, units=600, ago_ms=HOURS * 3_600_000, prefix="series-")
    Roller(store, queries.engine).roll()
    end = _now()
    window = Window.parse(
        start=end.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS), end=end
    )
    series = Series(queries.engine)
    rolled = series.experiment("series-0", window, bucket)
    exact = queries.engine.run(
        "experiment_series",
        {
            **window.params(),
            "experiment": "series-0",
            "bucket_seconds": bucket,
            **queries.engine.request_params(),
        },
    )
    assert len(exact) >= 2 * HOURS * 3600 // bucket - 2  # positive evidence: the buckets are there
    assert [
        (as_datetime(r["bucket"]), r["variant"], r["requests"], r["errors"]) for r in rolled
    ] == [(as_datetime(r["bucket"]), r["variant"], r["requests"], r["errors"]) for r in exact]
    for g, e in zip(rolled, exact, strict=True):
        assert g["p95_ms"] == pytest.approx(e["p95_ms"], rel=RELATIVE_ERROR)
        assert g["error_rate"] == pytest.approx(e["error_rate"])


def test_whole_days_are_rolled_and_read_as_days_and_late_data_rolls_them_again(store, queries):
    """Two days and more of traffic: the roller rolls each whole UTC day from its hours, so a
    report over the run reads a day's rows instead of 24 hours' (1,440 minutes'); the
    report, the burn rates and the hourly and daily series count what every request fact
    counts, before and after late data lands in a rolled day (read from the request facts
    until the next pass rolls the minute, its hour and its day again)."""
    from exptrace.query.core.rollup import read_plan
    from exptrace.query.core.series import Series, as_datetime

    insert_clustered(store, units=500, ago_ms=54 * 3_600_000, prefix="days-")
    Registry(store).create(Experiment("days-0", variants={"control": 1, "treatment": 1}), "t")
    roller = Roller(store, queries.engine)
    first = roller.roll()
    assert first["days"] >= 1 and first["hours"] >= 24
    window = Window.parse(last=dt.timedelta(hours=60))
    plan = read_plan(coverage(queries.engine), ["days-0"], window)
    assert plan.days and all(d.hour == 0 and d.minute == 0 for d in plan.days)
    assert not {h for h in plan.hours if any(d <= h < d + dt.timedelta(days=1) for d in plan.days)}
    series = Series(queries.engine)
    start = _now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=60)
    whole = Window.parse(start=start.replace(hour=0), end=_now())

    def check() -> None:
        _agree(queries.report("days-0", window), queries.report("days-0", window, exact=True))
        at = _now().replace(second=0, microsecond=0)
        grouped = {(r["experiment"], r["variant"]): r for r in queries.burn_rates(at)}
        exact = {(r["experiment"], r["variant"]): r for r in queries.burn_rates(at, exact=True)}
        assert grouped.keys() == exact.keys() and len(exact) == 2
        for key, row in exact.items():
            for field in ("requests", "control_requests", "burn_rates", "status"):
                assert grouped[key][field] == row[field], (key, field)
        for bucket in (3600, 86400):
            rows = series.experiment("days-0", whole, bucket)
            exact_rows = queries.engine.run(
                "experiment_series",
                {
                    **whole.params(),
                    "experiment": "days-0",
                    "bucket_seconds": bucket,
                    **queries.engine.request_params(),
                },
            )
            assert [
                (as_datetime(r["bucket"]), r["variant"], r["requests"], r["errors"]) for r in rows
            ] == [
                (as_datetime(r["bucket"]), r["variant"], r["requests"], r["errors"])
                for r in exact_rows
            ], bucket

    check()
    # late requests of new users at noon of a rolled day; a pass an hour later looks back
    # over everything rolled (older than a day: once an hour)
    noon = min(plan.days) + dt.timedelta(hours=12)
    before_ms = int((_now() - noon).total_seconds() * 1000)
    insert_clustered(store, units=200, seed=4, ago_ms=60_000, before_ms=before_ms, prefix="days-")
    check()
    again = roller.roll(_now() + dt.timedelta(hours=1, minutes=1))
    assert again["minutes"] >= 1 and again["hours"] >= 1 and again["days"] >= 1
    check()


def test_a_pass_cut_short_after_rolling_minutes_again_leaves_no_stale_hour_or_day(
    store, queries, monkeypatch
):
    """Late data lands in a rolled day; a pass rolls its minutes again and is cut short
    before their hour and day are rolled again (the process stopped, or a reader asked
    meanwhile): the minutes' counts now match their facts, so only the retraction of the
    hour and the day (written before the minutes) keeps readers off their stale rows. The
    report, the burn rates' 3-day counts and the daily series equal the exact ones then,
    and after the next whole pass, which reads days again."""
    from exptrace.query.core.series import Series, as_datetime

    insert_clustered(store, units=400, ago_ms=54 * 3_600_000, prefix="cut-")
    roller = Roller(store, queries.engine)
    roller.roll()
    done = coverage(queries.engine)
    assert done.days
    noon = min(done.days) + dt.timedelta(hours=12)
    before_ms = int((_now() - noon).total_seconds() * 1000)
    insert_clustered(store, units=150, seed=6, ago_ms=60_000, before_ms=before_ms, prefix="cut-")
    window = Window.parse(last=dt.timedelta(hours=60))
    whole = Window.parse(start=min(done.days) - dt.timedelta(days=1), end=_now())

    def check() -> None:
        _agree(queries.report("cut-0", window), queries.report("cut-0", window, exact=True))
        at = _now().replace(second=0, microsecond=0)
        grouped = {(r["experiment"], r["variant"]): r["requests"] for r in queries.burn_rates(at)}
        exact = {
            (r["experiment"], r["variant"]): r["requests"]
            for r in queries.burn_rates(at, exact=True)
        }
        assert grouped == exact
        series = Series(queries.engine).experiment("cut-0", whole, 86400)
        exact_series = queries.engine.run(
            "experiment_series",
            {
                **whole.params(),
                "experiment": "cut-0",
                "bucket_seconds": 86400,
                **queries.engine.request_params(),
            },
        )
        assert [(as_datetime(r["bucket"]), r["variant"], r["requests"]) for r in series] == [
            (as_datetime(r["bucket"]), r["variant"], r["requests"]) for r in exact_series
        ]

    with monkeypatch.context() as cut:  # a pass that stops after the minutes
        cut.setattr(Roller, "_roll_whole", lambda self, grain, parts, sealed: 0)
        assert roller.roll(_now() + dt.timedelta(hours=1, minutes=1))["minutes"] >= 1
    check()
    assert noon.replace(hour=0) not in coverage(queries.engine).days  # retracted
    again = roller.roll(_now() + dt.timedelta(hours=1, minutes=2))
    assert again["hours"] >= 1 and again["days"] >= 1
    assert noon.replace(hour=0) in coverage(queries.engine).days
    check()


def test_an_interrupted_pass_stops_at_its_next_insert_and_the_next_roller_finishes(
    store, queries, monkeypatch
):
    """A process stopping during a long first pass (hours of history to roll) interrupts
    it: the pass ends after the chunk under way (so the store is not closed under an
    insert), what it rolled is recorded, and the next process's roller rolls the rest; the
    report then equals the exact one."""
    insert_clustered(store, units=300, ago_ms=5 * 3_600_000, prefix="stop-")
    roller = Roller(store, queries.engine)
    inserts = []
    real_insert = Roller._insert

    def insert_then_stop(self, table, name, params):
        inserts.append(name)
        real_insert(self, table, name, params)
        self.interrupt()  # the stop arrives during the first insert

    monkeypatch.setattr(Roller, "_insert", insert_then_stop)
    cut = roller.roll()
    # the chunk under way is finished and recorded; nothing after it
    assert inserts == ["rollup/minutes", "rollup/first_units", "rollup/ledger"]
    assert 0 < cut["minutes"] <= 60 and cut["hours"] == cut["days"] == 0
    assert roller.roll() == {"minutes": 0, "hours": 0, "days": 0}  # stays stopped
    monkeypatch.setattr(Roller, "_insert", real_insert)
    after, now = Roller(store, queries.engine), _now()
    done = after.roll(now)
    rolled = coverage(queries.engine)  # every minute from the first to the sealed one, once
    assert rolled.end == after.sealed(now) and done["hours"] >= 4
    assert cut["minutes"] + done["minutes"] == (rolled.end - rolled.start) // dt.timedelta(
        minutes=1
    )
    window = Window.parse(last=dt.timedelta(hours=6))
    _agree(queries.report("stop-0", window), queries.report("stop-0", window, exact=True))


def _edge_traces(experiment: str, agos: list[float]) -> tuple[list[Request], list[Request]]:
    """Traces whose edge does not tag its span and a service downstream does: the tagged
    children at ``agos`` seconds ago, their untagged roots 20 s earlier, failing in B."""
    children, roots = [], []
    for i, ago in enumerate(agos):
        trace, root_id = os.urandom(16), os.urandom(8)
        children.append(
            Request(
                "checkout",
                "/pay",
                {experiment: "AB"[i % 2]},
                duration_ms=10.0,
                trace_id=trace,
                parent_span_id=root_id,
                ago_seconds=ago,
                attributes={"exptrace.unit": f"user-{i}"},
            )
        )
        roots.append(
            Request(
                "frontend",
                "/checkout",
                {},
                duration_ms=900.0,
                error=i % 2 == 1,  # every B request fails at the edge
                trace_id=trace,
                span_id=root_id,
                ago_seconds=ago + 20,  # the root starts 20 s before its child
            )
        )
    return children, roots


def test_a_late_root_that_carries_no_experiment_reaches_the_rolled_report(receiver, store, queries):
    """The tagged child spans are stored and rolled first, their untagged roots (which decide
    the outcome: failed) come later: the next report and the next pass count the roots'
    outcomes, as the exact report does, not the children's (a stranger saw B's 22% failures
    read as none, for good)."""
    children, roots = _edge_traces("edge", [1800 + i * 3 for i in range(200)])
    send(receiver, children)
    roller = Roller(store, queries.engine)
    roller.roll()
    window = Window.parse(last=dt.timedelta(hours=1))
    assert sum(c["errors"] for c in queries.report("edge", window)["cohorts"]) == 0
    send(receiver, roots)  # late: after the minutes of their children were rolled
    exact = queries.report("edge", window, exact=True)
    assert [(c["variant"], c["errors"]) for c in exact["cohorts"]] == [("A", 0), ("B", 100)]
    _agree(queries.report("edge", window), exact)  # before the next pass: read from the facts
    roller.roll()
    _agree(queries.report("edge", window), exact)  # rolled again


def test_a_late_root_in_the_minute_before_a_window_moves_its_request_out_at_once(
    receiver, store, queries
):
    """Children in a window's first seconds, rolled; their roots, 20 s earlier, arrive late
    in the minute before the window: the requests now start before it and leave it. The
    next report says so before any pass (the late-data check looks a trace horizon before
    the window), as the exact one does (a stranger saw twice the requests until the pass)."""
    first = _now().replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    now = _now()
    agos = [(now - first).total_seconds() - 5 - i * 0.05 for i in range(200)]
    children, roots = _edge_traces("edge-open", agos)
    send(receiver, children)
    Roller(store, queries.engine).roll()
    window = Window.parse(start=first, end=_now())
    assert sum(c["requests"] for c in queries.report("edge-open", window)["cohorts"]) == 200
    send(receiver, roots)
    exact = queries.report("edge-open", window, exact=True)
    assert sum(c["requests"] for c in exact["cohorts"]) == 0
    assert _counts(queries.report("edge-open", window)) == _counts(exact)


def test_a_root_before_the_first_tagged_span_of_the_store_is_rolled(receiver, store, queries):
    """The store's very first requests: tagged children a few seconds into a minute, their
    untagged roots in the minute before. The roller starts a trace horizon before the first
    tagged span, so those requests are rolled where they start and counted, as the exact
    report counts them (a stranger's were never counted, even after a restart)."""
    first = _now().replace(second=0, microsecond=0) - dt.timedelta(minutes=40)
    now = _now()
    agos = [(now - first).total_seconds() - 5 - i * 0.05 for i in range(200)]
    children, roots = _edge_traces("edge-first", agos)
    send(receiver, roots + children)
    Roller(store, queries.engine).roll()
    window = Window.parse(last=dt.timedelta(hours=1))
    exact = queries.report("edge-first", window, exact=True)
    assert sum(c["requests"] for c in exact["cohorts"]) == 200
    _agree(queries.report("edge-first", window), exact)


def test_a_window_of_ten_years_reads_what_is_rolled_not_every_minute_it_spans(
    receiver, store, queries
):
    """`--last 3650d` over three hours of data: the plan lists the rolled periods (it listed
    every minute of the ten years, five million of them, and the engine refused the query
    after a minute and gigabytes), and the report counts what the exact one counts."""
    from exptrace.query.core import rollup

    insert_clustered(store, units=200, ago_ms=HOURS * 3_600_000, prefix="decade-")
    # traffic outside any experiment, before the roller's first minute: not late data
    plain = [
        Request("frontend", "/", {}, 20.0, ago_seconds=(HOURS + 2) * 3600 + i) for i in range(9)
    ]
    send(receiver, plain)
    Roller(store, queries.engine).roll()
    window = Window.parse(last=dt.timedelta(days=3650))
    plan = rollup.plan(queries.engine, ["decade-0"], window)
    assert len(plan.minutes) + 60 * len(plan.hours) <= (HOURS + 1) * 60
    assert plan.describe("decade-0")["rolled"] is not None  # read rolled, not all from facts
    _agree(queries.report("decade-0", window), queries.report("decade-0", window, exact=True))
