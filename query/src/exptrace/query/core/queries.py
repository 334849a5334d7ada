"""The Python API: every question the telemetry answers, as one facade over an
:class:`~exptrace.query.core.engine.Engine` (the store, the registry and the analysis
settings), computed by the engine from ``sql/*.sql``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from exptrace.ingest import Store
from exptrace.query.core import burn, rollup
from exptrace.query.core.answers import DEFAULT_LIMIT, Page, Rows, Window, sql_time, to_datetime
from exptrace.query.core.engine import Engine
from exptrace.query.core.incident import attribute
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.report import ROLLED_BACK_RUN, ROLLED_BACK_WINDOW, Report

LAG_TARGET_MS = 30_000
"""The receiver's own lag (acknowledged -> queryable) should stay under this."""
BUCKET_SECONDS = 300
"""Coverage's default bucket: five minutes."""
COVERAGE_THRESHOLD = 0.95
"""Routes whose tagging coverage, and hops whose propagation coverage, fall below this share
are flagged."""


class Queries:
    """Cohort SLIs, comparisons, coverage, attribution, incidents, burn rates, lag, cardinality."""

    def __init__(self, store: Store, registry: Registry | None = None, **settings: Any) -> None:
        """``settings``: the :class:`Engine`'s analysis settings (``alpha``, ``method``,
        ``tuning_units``, ``unit_attribute``, ``trace_horizon_seconds``)."""
        self.engine = Engine(store, registry, **settings)
        self.registry = self.engine.registry

    # -- 1. cohort SLIs --------------------------------------------------------------------

    def cohort_slis(
        self, window: Window, experiment: str = "", by_service: bool = False, by_route: bool = False
    ) -> list[dict[str, Any]]:
        """Requests, errors, availability and latency per (experiment, variant): the report's
        requests (each trace once, its root's outcome), by the edge's route with
        ``by_route``; with ``by_service`` each service's own entry spans instead."""
        rows = self.engine.run(
            "cohort_slis",
            {
                **window.params(),
                "experiment": experiment,
                "by_service": int(by_service),
                "by_route": int(by_route),
                **self.engine.request_params(),
            },
        )
        for row in rows:
            p50, p90, p95, p99 = row.pop("latency_ms")
            row.update(p50_ms=p50, p90_ms=p90, p95_ms=p95, p99_ms=p99)
        return rows

    # -- 2. comparison with control ------------------------------------------------------------

    def run_window(self, experiment: str, now: dt.datetime | None = None) -> Window | None:
        """The experiment's whole run as randomized: from its start to its stop (or ``now``,
        while it runs), or to its first rollback, after which the rolled-back variants' units
        are sent to control and the arms are no longer a randomized comparison; None when it
        is not registered or has never started."""
        registered = self.registry.find(experiment)
        rollback = self.registry.first_rollback(experiment) if registered else None
        return _run_window(registered, rollback, now)

    def reports(self, experiments: list[Experiment]) -> dict[str, dict[str, Any]]:
        """Each registered experiment's report over its whole run, as :meth:`report` gives
        it; the unit groups of every run that ends now are read in one query (a watch
        round), the others' one by one."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rollbacks = self.registry.first_rollbacks()
        windows = {e.id: _run_window(e, rollbacks.get(e.id), now) for e in experiments}
        open_ended = Window.parse(end=now).end
        together = [e for e in experiments if (w := windows[e.id]) and w.end == open_ended]
        out = {}
        if together:
            starts = {e.id: to_datetime(windows[e.id].start) for e in together}
            whole = Window.parse(start=min(starts.values()), end=now)
            plan = rollup.plan(self.engine, starts, whole)
            params = {**self.engine.request_params(together), "experiment": ""}
            arms = rollup.read_arms(self.engine, plan, params)
            for e in together:
                read = (arms[e.id], plan.describe(e.id))
                built = Report(self.engine, e.id, windows[e.id], "run", read=read, registered=e)
                out[e.id] = _noted(built.build(), rollbacks.get(e.id), "run", windows[e.id])
        for e in experiments:
            if e.id not in out:
                out[e.id] = self.report(e.id)
        return out

    def report(
        self, experiment: str, window: Window | None = None, exact: bool = False
    ) -> dict[str, Any]:
        """Every variant against control at the randomization unit, valid while watched.

        ``window`` None: the experiment's whole run (:meth:`run_window`), the question the
        always-valid comparison answers however often it is asked; for an experiment that never
        started, the last hour. A window given is a different question (``window.scope``
        says which was answered).

        Per treatment: the error rate and the p50/p95/p99 latency effects with intervals and
        p-values (Holm-adjusted across treatments and metrics), a ``decision`` and the words
        for people; per arm, units and requests; SRM on units; contamination and the unit's
        coverage in the notes. ``exact``: per-unit sums and exact quantiles over every
        request fact instead of the unit groups (``data`` says which was read).
        """
        scope = "custom"
        if window is None:
            window = self.run_window(experiment)
            scope = "run"
        if window is None:
            window, scope = Window.parse(), "last_hour"
        built = Report(self.engine, experiment, window, scope, exact=exact).build()
        return _noted(built, self.registry.first_rollback(experiment), scope, window)

    # -- 3. tagging and propagation coverage ---------------------------------------------------

    def tagging_coverage(
        self,
        window: Window,
        bucket_seconds: int = BUCKET_SECONDS,
        threshold: float = COVERAGE_THRESHOLD,
    ) -> dict[str, Any]:
        rows = self.engine.run(
            "tagging_coverage", {**window.params(), "bucket_seconds": bucket_seconds}
        )
        totals: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            t = totals.setdefault((row["service"], row["route"]), [0, 0])
            t[0] += int(row["requests"])
            t[1] += int(row["tagged"])
        routes = [
            {"service": s, "route": r, "requests": n, "tagged": k, "coverage": k / n}
            for (s, r), (n, k) in sorted(totals.items())
        ]
        requests = sum(r["requests"] for r in routes)
        tagged = sum(r["tagged"] for r in routes)
        return {
            "window": window.__dict__,
            "threshold": threshold,
            "requests": requests,
            "tagged": tagged,
            "coverage": tagged / requests if requests else None,
            "routes": routes,
            "below_threshold": [r for r in routes if r["coverage"] < threshold],
            "buckets": rows,
        }

    def propagation_coverage(
        self, window: Window, threshold: float = COVERAGE_THRESHOLD
    ) -> dict[str, Any]:
        rows = self.engine.run("propagation_coverage", window.params())
        hops = [r for r in rows if r["signal"] == "span"]
        return {
            "window": window.__dict__,
            "threshold": threshold,
            "hops": hops,
            "logs": [r for r in rows if r["signal"] == "log"],
            "losing_hops": [h for h in hops if h["from_service"] and h["coverage"] < threshold],
        }

    # -- 4. attribution completeness -----------------------------------------------------------

    def attribution(self, window: Window) -> list[dict[str, Any]]:
        return self.engine.run("attribution", window.params())

    # -- 5. incident attribution ---------------------------------------------------------------

    def incident(
        self,
        window: Window,
        service: str = "",
        route: str = "",
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Which experiment's variant explains the errors: excess errors with intervals,
        ranked by Holm-corrected evidence over every arm; ``suspects`` names only the
        significant ones. One page of the ranking; ``overflow`` counts the whole."""
        return attribute(self.engine, window, service, route, Page(limit, offset))

    # -- 6. burn rates ---------------------------------------------------------------------------

    def burn_rates(
        self,
        at: str | dt.datetime | None = None,
        default_availability: float = 0.999,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        exact: bool = False,
    ) -> Rows:
        """Experiment-caused burn per (experiment, variant) (:mod:`exptrace.query.core.burn`): the
        excess over control against the availability SLO per window, with intervals, each
        window's coverage, and the status its rules give; the largest excess first; one page
        of them (``total``: how many in all). Read from the unit groups (the shorter windows
        from their start rounded up to a minute), or with ``exact`` from every request fact."""
        page = Page(limit, offset)
        moment = (
            sql_time(to_datetime(at))
            if at
            else sql_time(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        )
        end = to_datetime(moment)
        params = {
            "start": sql_time(end - burn.HORIZON),
            "end": moment,
            "windows": list(burn.WINDOWS.values()),
            "default_availability": default_availability,
            "experiment": "",
            **self.engine.request_params(),
        }
        window = Window(params["start"], moment)
        shorter = sorted(burn.WINDOWS.values())[-2]  # read in minutes from its start on
        whole_before = end - dt.timedelta(seconds=shorter)
        if exact:  # nothing rolled: the request facts alone
            plan = rollup.read_plan(rollup.Coverage(None, None), [], window, whole_before)
        else:
            plan = rollup.plan(self.engine, [], window, whole_before)
        rows = self.engine.run_page("burn_rates", {**params, **plan.params()}, page)
        return Rows([{**burn.evaluate(row, end), "at": moment} for row in rows], rows.total, page)

    # -- 7. ingestion lag and cardinality ---------------------------------------------------------

    def ingestion_lag(self, window: Window, target_ms: int = LAG_TARGET_MS) -> list[dict[str, Any]]:
        """Two measures, one row each per service: ``pipeline`` (received -> queryable, the
        receiver's own lag against ``target_ms``) and ``arrival`` (how late telemetry from
        its sources reaches the store, with future-dated items counted apart)."""
        return self.engine.run("ingestion_lag", {**window.params(), "target_ms": target_ms})

    def cardinality(self, window: Window, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> Rows:
        """Per service, the most cohorts first; one page (``total``: services in all)."""
        return self.engine.run_page("cardinality", window.params(), Page(limit, offset))

    def failed_examples(
        self, experiment: str, variant: str, window: Window, limit: int = 5
    ) -> list[dict[str, Any]]:
        """The latest ``limit`` failed requests of ``experiment`` = ``variant`` in the window,
        as the report counts them: trace id, start, the edge's service and route, duration
        and up to 5 of the trace's log records (errors first), to open in a trace viewer."""
        params = {
            **window.params(),
            "experiment": experiment,
            "variant": variant,
            "limit": limit,
            **self.engine.request_params([e for e in [self.registry.find(experiment)] if e]),
        }
        rows = self.engine.run("failed_examples", params)
        for row in rows:
            row["logs"] = [
                {"at": at, "severity": severity, "body": body} for at, severity, body in row["logs"]
            ]
        return rows

    def seen_experiments(
        self,
        window: Window,
        *,
        only: list[str] | None = None,
        unregistered: bool = False,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> Rows:
        """Experiments that tagged entry spans in the window (variants, spans, last seen), in
        id order; ``only`` those named, or ``unregistered`` only; one page of them."""
        params = {**window.params(), "only": only or [], "unregistered": int(unregistered)}
        return self.engine.run_page("seen_experiments", params, Page(limit, offset))


def _run_window(
    registered: Experiment | None, rollback: str | None, now: dt.datetime | None
) -> Window | None:
    """The run of ``registered`` as randomized (see :meth:`Queries.run_window`)."""
    if registered is None or registered.start_time is None:
        return None
    end = registered.end_time if registered.status != "running" else None
    # from the minute it started: what is rolled starts on whole minutes, so the unit groups
    # and every request fact (exact) answer the same run
    started = to_datetime(registered.start_time).replace(second=0, microsecond=0)
    window = Window.parse(start=started, end=end or now)
    if rollback is not None and window.start < Window.parse(end=rollback).end < window.end:
        window = Window.parse(start=window.start, end=rollback)
    return window


def _noted(
    built: dict[str, Any], rollback: str | None, scope: str, window: Window
) -> dict[str, Any]:
    """A report with its first rollback, and the note on what it means for the window."""
    built["rolled_back_at"] = rollback
    if rollback is not None and scope == "run":
        built["notes"].append(ROLLED_BACK_RUN.format(at=rollback[:19]))
    elif rollback is not None and window.end > Window.parse(end=rollback).end:
        built["notes"].append(ROLLED_BACK_WINDOW.format(at=rollback[:19]))
    return built
