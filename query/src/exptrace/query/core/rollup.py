"""The roller: request facts rolled once into unit groups, so reads cost groups, not spans.

Each pass writes the minutes that are sealed (:data:`SEAL_DELAY` old: the spans of their
requests have had time to arrive) into ``exptrace_unit_groups`` (``sql/rollup/minutes.sql``),
then each whole hour from its minutes and each whole day (UTC) from its hours
(``sql/rollup/merged.sql``), and records every period rolled in ``exptrace_rollups`` with the
roll's version, after its rows, so a read over weeks costs days, not minutes. Late data is
caught: a minute of the last :data:`LATE_LOOKBACK` whose count of request facts has changed
since its roll is rolled again (with the minutes its traces may reach), and so are its hour
and day;
readers take each period's latest roll. Reports read the rolled periods and compute the
rest from the request facts (:mod:`~exptrace.query.core.report`), so a roller that is
behind, or not running, costs time, never correctness.

It runs before every watch round (inside ``exptrace up`` and ``exptrace watch``); rolling
is idempotent, so several rollers on one store only repeat work.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from exptrace.query.core.inference import QUANTILES
from exptrace.query.core.sqlfiles import load
from exptrace.query.core.unit_groups import GROUPS, GROWTH, RELATIVE_ERROR, arm_rows

if TYPE_CHECKING:
    from exptrace.ingest import Store
    from exptrace.query.core.answers import Window
    from exptrace.query.core.engine import Engine

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SEAL_DELAY = dt.timedelta(minutes=2)
"""A minute is rolled once it ended this long ago: most spans of its requests are stored by
then (the receiver flushes every second); a span that comes later changes its minute's count
of request facts, and the next pass rolls again what it touches."""
ROLL_INTERVAL = 60.0
"""Seconds between roll passes in ``exptrace up`` when no watcher runs (a round rolls first)."""
LATE_LOOKBACK = dt.timedelta(days=1)
"""How far back a pass looks for minutes whose request facts changed after their roll; once
every :data:`FULL_CHECK` a pass looks back over everything it rolled."""
FULL_CHECK = dt.timedelta(hours=1)
CHUNK = dt.timedelta(hours=1)
"""The most time one INSERT rolls (a first pass over a long history goes in steps)."""
GROUPS_TABLE = "exptrace_unit_groups"
LEDGER_TABLE = "exptrace_rollups"
FIRST_TABLE = "exptrace_unit_first"


@dataclass(frozen=True)
class Coverage:
    """What is rolled: minutes from ``start`` (inclusive) to ``end`` (exclusive), or nothing,
    the hours rolled from their minutes and the days rolled from their hours."""

    start: dt.datetime | None
    end: dt.datetime | None
    hours: frozenset[dt.datetime] = frozenset()
    days: frozenset[dt.datetime] = frozenset()


def _floor(moment: dt.datetime, step: dt.timedelta) -> dt.datetime:
    seconds = int(step.total_seconds())
    epoch = int(moment.replace(tzinfo=dt.UTC).timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC).replace(tzinfo=None)


def ceil_minute(moment: dt.datetime) -> dt.datetime:
    """``moment`` (naive UTC) rounded up to a whole minute."""
    moment = moment.replace(tzinfo=None)
    floor = _floor(moment, MINUTE)
    return floor if floor == moment else floor + MINUTE


def coverage(engine: Engine) -> Coverage:
    """The minutes the ledger holds: contiguous from the first rolled to the last."""
    rows = engine.run("rollup/coverage", {})
    if not rows or not int(rows[0]["minutes"]):
        return Coverage(None, None)
    row = rows[0]
    hours = frozenset(_parse(h) for h in row["hours"])
    days = frozenset(_parse(d) for d in row["days"])
    return Coverage(_parse(row["first"]), _parse(row["last"]) + MINUTE, hours, days)


@dataclass(frozen=True)
class ReadPlan:
    """Where a read of unit groups (``sql/report_groups.sql``) takes each part from: the
    rolled periods in ``[starts[e], rolled_end)`` of each experiment ``e``, and the request
    facts in ``[live_start, end)``."""

    starts: dict[str, dt.datetime]
    """Per experiment, the first whole minute its window reads from the rolled periods."""
    moments: dict[str, dt.datetime]
    """Per experiment, where its window starts: the request facts are read from there."""
    rolled_end: dt.datetime
    live_start: dt.datetime
    end: dt.datetime
    days: list[dt.datetime]
    """The days read as days (whole, rolled, inside some experiment's window)."""
    hours: list[dt.datetime]
    """The hours read as hours: whole, rolled, inside some experiment's window, and not inside
    a day it reads."""
    minutes: list[dt.datetime]
    """The minutes read as minutes: the others an experiment's window holds."""
    everyone_from: dt.datetime
    """Without ``starts``: every experiment, from this minute."""
    rolled_from: dt.datetime | None = None
    """Where the rolled periods read begin (the roller's first minute, or later)."""

    def live_from(self, experiment: str) -> dt.datetime:
        """Where ``experiment``'s request facts are read from: the end of its rolled
        periods, or its window's start when none of them is rolled."""
        return (
            self.rolled_end
            if self.starts[experiment] < self.rolled_end
            else self.moments[experiment]
        )

    @property
    def first(self) -> dt.datetime:
        """The earliest minute any experiment's window reads."""
        return min(self.starts.values(), default=self.everyone_from)

    def only(self, experiments: set[str]) -> ReadPlan:
        """The same plan for some of its experiments."""
        starts = {e: s for e, s in self.starts.items() if e in experiments}
        return replace(self, starts=starts, moments={e: self.moments[e] for e in starts})

    def params(self) -> dict[str, Any]:
        experiments = sorted(self.starts)
        return {
            "experiments": experiments,
            "first_minutes": [self.starts[e] for e in experiments],
            "live_from": [self.live_from(e) for e in experiments],
            "everyone_from": self.everyone_from,
            "days": self.days,
            "hours": self.hours,
            "minutes": self.minutes,
            "start": self.live_start,
            "end": self.end,
            "latency_growth": GROWTH,
            "groups": GROUPS,
            "quantiles": list(QUANTILES),
        }

    def describe(self, experiment: str | None = None) -> dict[str, Any]:
        """For an answer (about ``experiment``, default the first): what was read, from
        where, with which error."""
        first = self.starts.get(experiment or "", self.first)
        moment = self.moments.get(experiment or "", first)
        return {
            "source": "unit groups",
            # the rolled periods start on a whole minute; the request facts, where asked
            "read_from": (first if self.rolled_end > first else moment).isoformat(sep=" "),
            "rolled": [
                max(first, self.rolled_from).isoformat(sep=" "),
                self.rolled_end.isoformat(sep=" "),
            ]
            if self.rolled_from is not None and self.rolled_end > max(first, self.rolled_from)
            else None,
            "from_request_facts": [
                (
                    self.live_from(experiment) if experiment in self.starts else self.live_start
                ).isoformat(sep=" "),
                self.end.isoformat(sep=" "),
            ],
            "groups": GROUPS,
            "latency_relative_error": RELATIVE_ERROR,
            "exact": "ask again with exact=true for exact quantiles and per-unit sums",
        }


def seen_before(engine: Engine, plan: ReadPlan) -> set[str]:
    """The experiments of ``plan`` some of whose units were first seen before their window:
    their units are counted as distinct units (``sql/report_groups_distinct.sql``)."""
    params = {**plan.params(), "latest": max(plan.starts.values())}
    return {r["experiment"] for r in engine.run("rollup/seen_before", params) if int(r["units"])}


def read_arms(
    engine: Engine, plan: ReadPlan, params: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Each experiment of ``plan``'s arms (:func:`~exptrace.query.core.unit_groups.arm_rows`),
    its unit groups read in one query: users counted where first seen, or as distinct users
    for the experiments some of whose users were first seen before their window.
    ``params``: the request definition's (and the rest ``sql/report_groups.sql`` takes)."""
    distinct = seen_before(engine, plan)
    groups: dict[str, list[dict[str, Any]]] = {e: [] for e in plan.starts}
    for name, ids in (
        ("report_groups", set(plan.starts) - distinct),
        ("report_groups_distinct", distinct),
    ):
        if ids:
            for row in engine.run(name, {**params, **plan.only(ids).params()}):
                groups[row["experiment"]].append(row)
    return {e: arm_rows(rows) for e, rows in groups.items()}


def plan(
    engine: Engine,
    experiments: list[str] | dict[str, dt.datetime],
    window: Window,
    whole_before: dt.datetime | None = None,
    coarsest: dt.timedelta = DAY,
) -> ReadPlan:
    """:func:`read_plan` over what is rolled and still true: a rolled minute whose request
    facts have grown since its roll (late data, before the roller's next pass) ends the
    rolled part a trace horizon before it, so nothing stale is read."""
    done = coverage(engine)
    draft = read_plan(done, experiments, window, whole_before, coarsest)
    if draft.rolled_end <= draft.first:
        return draft
    reach = dt.timedelta(seconds=engine.trace_horizon_seconds) + MINUTE
    # a late span up to a trace horizon before the window can move a request across its start
    params = {"start": draft.first - reach, "end": draft.rolled_end, "rolled_from": done.start}
    row = engine.run("rollup/stale", params)[0]
    if not int(row["stale"]):
        return draft
    fresh = _floor(_parse(row["first_stale"]) - reach, MINUTE)
    return read_plan(
        replace(done, end=max(done.start or fresh, fresh)),
        experiments,
        window,
        whole_before,
        coarsest,
    )


def read_plan(
    done: Coverage,
    experiments: list[str] | dict[str, dt.datetime],
    window: Window,
    whole_before: dt.datetime | None = None,
    coarsest: dt.timedelta = DAY,
) -> ReadPlan:
    """The plan for ``experiments`` (each from the window's start rounded up to a minute, or
    from its own start; none: every experiment from the window's start) over ``window``:
    rolled minutes, hours and days as far as ``done`` reaches and the window's whole minutes
    go, the request facts after them; ``whole_before``: whole hours and days only up to then
    (minutes after it, for windows that start inside it); ``coarsest``: the longest rolled
    period read (``HOUR``: no days; ``MINUTE``: minutes only)."""
    start, end = _parse(window.start), _parse(window.end)
    if isinstance(experiments, dict):
        moments = {e: max(s.replace(tzinfo=None), start) for e, s in experiments.items()}
    else:
        moments = dict.fromkeys(experiments, start)
    starts = {e: ceil_minute(m) for e, m in moments.items()}
    everyone_from = ceil_minute(start)
    first = min(starts.values(), default=everyone_from)
    rolled_end = first
    if done.end is not None:
        rolled_end = max(first, min(done.end, _floor(end, MINUTE)))
    days: set[dt.datetime] = set()
    hours: set[dt.datetime] = set()
    minutes: set[dt.datetime] = set()
    limit = rolled_end if whole_before is None else min(rolled_end, whole_before)
    for start_e in set(starts.values()) or {everyone_from}:
        used_days = {d for d in done.days if coarsest >= DAY and d >= start_e and d + DAY <= limit}
        used_hours = {
            h
            for h in done.hours
            if coarsest >= HOUR
            and h >= start_e
            and h + HOUR <= limit
            and _floor(h, DAY) not in used_days
        }
        days |= used_days
        hours |= used_hours
        # no minute before the roller's first holds a roll: a window reaching back years
        # lists the minutes rolled, not every minute it spans
        moment = max(start_e, done.start) if done.start is not None else start_e
        while moment < rolled_end:
            if (day := _floor(moment, DAY)) in used_days:
                moment = day + DAY
            elif (hour := _floor(moment, HOUR)) in used_hours:
                moment = hour + HOUR
            else:
                minutes.add(moment)
                moment += MINUTE
    return ReadPlan(
        starts,
        moments,
        rolled_end,
        min(
            [rolled_end if s < rolled_end else moments[e] for e, s in starts.items()]
            or [rolled_end if rolled_end > everyone_from else start]
        ),
        end,
        sorted(days),
        sorted(hours),
        sorted(minutes),
        everyone_from,
        done.start,
    )


def _parse(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)


class Roller:
    """Rolls sealed minutes and hours; one :meth:`roll` per pass."""

    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self._lock = threading.Lock()
        """One pass at a time (a watch round's and the loop's)."""
        self._interrupted = threading.Event()
        """Set by :meth:`interrupt`: a pass stops after the chunk under way."""
        self._checked_all: dt.datetime | None = None
        """When a pass last looked for late data over everything rolled."""

    def interrupt(self) -> None:
        """End the pass under way after its chunk under way (at most an hour of minutes,
        or one hour or day), and any later one at its start: the process is stopping, and
        the store must not close under an insert. What was rolled stays consistent: the
        ledger records each chunk after its rows, and hours and days whose minutes are
        rolled again stay retracted until a later pass rolls them."""
        self._interrupted.set()

    def sealed(self, now: dt.datetime) -> dt.datetime:
        """The end of what is rolled at ``now``: whole minutes that ended a while ago."""
        return _floor(now.replace(tzinfo=None) - SEAL_DELAY, MINUTE)

    def roll(self, now: dt.datetime | None = None) -> dict[str, int]:
        """One pass; returns how many minutes and hours it rolled."""
        with self._lock:
            return self._roll(now or dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def _roll(self, now: dt.datetime) -> dict[str, int]:
        if self._interrupted.is_set():
            return {"minutes": 0, "hours": 0, "days": 0}
        sealed = self.sealed(now)
        done = coverage(self.engine)
        lookback = sealed - LATE_LOOKBACK
        if self._checked_all is None or now - self._checked_all >= FULL_CHECK:
            lookback = min(lookback, done.start or lookback)
            self._checked_all = now
        counts = self._counts(min(lookback, done.end or lookback), sealed)
        first = self._first_start()
        if first is None:
            return {"minutes": 0, "hours": 0, "days": 0}
        # a request starts where its trace does: up to a trace horizon before its first
        # tagged span (an untagged root), so rolling starts that much earlier
        earliest = _floor(first - dt.timedelta(seconds=self.engine.trace_horizon_seconds), MINUTE)
        start = done.end if done.end is not None else earliest
        if done.start is not None and first < done.start:  # late data before the first roll
            start = earliest
            done = Coverage(None, None)
        todo = set(_minutes(start, sealed))
        if done.end is not None:
            recorded = self._recorded(60, max(lookback, done.start or lookback), done.end)
            horizon = dt.timedelta(seconds=self.engine.trace_horizon_seconds)
            reach = int(horizon / MINUTE) + 1
            for minute, source in recorded.items():
                if counts.get(minute, 0) != source:
                    for k in range(-reach, reach + 1):
                        near = minute + k * MINUTE
                        if near in recorded or near in todo:
                            todo.add(near)
        again = {m for m in todo if done.end is not None and m < done.end}
        minutes = self._roll_minutes(sorted(todo), counts, done)
        if again:  # late data: a unit found earlier than it was first seen is counted once
            moved: set[dt.datetime] = set()
            for start, end in _ranges(sorted(again)):
                rows = self.engine.run("rollup/moved_first", {"start": start, "end": end})
                moved |= {_parse(r["minute"]) for r in rows} - again
            minutes += self._roll_minutes(sorted(moved), counts, done)
        hours = self._roll_whole(HOUR, MINUTE, sealed)
        days = self._roll_whole(DAY, HOUR, sealed)
        return {"minutes": minutes, "hours": hours, "days": days}

    def _counts_for(
        self, minutes: set[dt.datetime], counts: dict[dt.datetime, int]
    ) -> dict[dt.datetime, int]:
        """``counts``, with those of ``minutes`` it lacks read from the store."""
        missing = [m for m in minutes if m not in counts]
        if not missing:
            return counts
        return {**self._counts(min(missing), max(missing) + MINUTE), **counts}

    def _first_start(self) -> dt.datetime | None:
        row = self.engine.run("rollup/first_request", {})[0]
        return _parse(row["first"]) if int(row["facts"]) else None

    def _counts(self, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
        """Request facts per minute in ``[start, end)`` (0 for a minute without any)."""
        rows = self.engine.run("rollup/counts", {"start": start, "end": end})
        counts = dict.fromkeys(_minutes(_floor(start, MINUTE), end), 0)
        return {**counts, **{_parse(r["minute"]): int(r["facts"]) for r in rows}}

    def _recorded(self, grain: int, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
        """Each period of ``grain`` seconds rolled in ``[start, end)``: its latest source."""
        params = {"grain": grain, "start": start, "end": end}
        return {
            _parse(r["period"]): int(r["source"])
            for r in self.engine.run("rollup/recorded", params)
        }

    def _insert(self, table: str, name: str, params: dict[str, Any]) -> None:
        """``INSERT INTO table`` the rows of ``sql/<name>.sql`` (table: one of ours); on a
        cluster, stored on their shards before the call returns (the ledger's rows come after
        the rows they vouch for)."""
        sql = load(name)
        self.store.command(
            f"INSERT INTO {table} {sql.text}\nSETTINGS distributed_foreground_insert = 1",
            sql.bind(params),
        )

    def _roll_minutes(
        self, minutes: list[dt.datetime], counts: dict[dt.datetime, int], done: Coverage
    ) -> int:
        if not minutes:
            return 0
        counts = self._counts_for(set(minutes), counts)
        self._retract(minutes, done)
        rolled = 0
        for start, end in _ranges(minutes):
            if self._interrupted.is_set():
                break
            version = _version()
            params = {
                **self.engine.request_params(),
                "start": start,
                "end": end,
                "experiment": "",
                "experiments": [],  # every experiment, every request in the minutes
                "live_from": [],
                "latency_growth": GROWTH,
                "groups": GROUPS,
                "version": version,
            }
            self._insert(GROUPS_TABLE, "rollup/minutes", params)
            self._insert(FIRST_TABLE, "rollup/first_units", params)
            self._record(60, [(m, counts.get(m, 0)) for m in _minutes(start, end)], version)
            rolled += len(_minutes(start, end))
        return rolled

    def _roll_whole(self, grain: dt.timedelta, parts: dt.timedelta, sealed: dt.datetime) -> int:
        """Each whole sealed period of ``grain`` (an hour, a day) whose ``parts`` (minutes,
        hours) are all rolled and changed since it was rolled (or never was)."""
        seconds, part_seconds = int(grain.total_seconds()), int(parts.total_seconds())
        end = _floor(sealed, grain)
        params = {"grain": seconds, "parts_grain": part_seconds, "sealed": end}
        periods = self.engine.run("rollup/due", params)
        if not periods:
            return 0
        rolled = self._recorded(seconds, min(_parse(p["period"]) for p in periods), end)
        due = [
            (_parse(p["period"]), int(p["newest"]))
            for p in periods
            if int(p["parts"]) == seconds // part_seconds
            and rolled.get(_parse(p["period"])) != int(p["newest"])
        ]
        rolled_now = 0
        for period, newest in due:
            if self._interrupted.is_set():
                break
            version = _version()
            self._insert(
                GROUPS_TABLE,
                "rollup/merged",
                {**params, "start": period, "end": period + grain, "version": version},
            )
            self._record(seconds, [(period, newest)], version)
            rolled_now += 1
        return rolled_now

    def _retract(self, minutes: list[dt.datetime], done: Coverage) -> None:
        """Before ``minutes`` are rolled again: their rolled hours and days are retracted
        (Source 0), so no reader takes them for current (their rows miss what the minutes
        gain) until this pass, or the next, rolls them again; readers read the minutes."""
        version = _version()
        for grain, rolled in ((HOUR, done.hours), (DAY, done.days)):
            periods = sorted({_floor(m, grain) for m in minutes} & rolled)
            if periods:
                self._record(int(grain.total_seconds()), [(p, 0) for p in periods], version)

    def _record(self, grain: int, periods: list[tuple[dt.datetime, int]], version: int) -> None:
        """The ledger's rows, after the rows they vouch for."""
        params = {
            "grain": grain,
            "version": version,
            "periods": [p for p, _ in periods],
            "sources": [s for _, s in periods],
        }
        self._insert(LEDGER_TABLE, "rollup/ledger", params)


def _minutes(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every minute from ``start`` (a whole minute) up to ``end``."""
    return [start + k * MINUTE for k in range(max(0, math.ceil((end - start) / MINUTE)))]


def _version() -> int:
    """A roll's version: increasing across passes and processes (nanoseconds of wall time)."""
    return time.time_ns()


def _ranges(minutes: list[dt.datetime]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Contiguous runs of ``minutes`` (sorted), each at most :data:`CHUNK` long."""
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for minute in minutes:
        if out and out[-1][1] == minute and minute - out[-1][0] < CHUNK:
            out[-1] = (out[-1][0], minute + MINUTE)
        else:
            out.append((minute, minute + MINUTE))
    return out
