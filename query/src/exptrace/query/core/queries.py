"""The Python API: answers from the telemetry, computed by the engine from ``sql/*.sql``."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from exptrace.ingest import ReadOnlyStore, Store
from exptrace.propagation import UNIT_MEMBER
from exptrace.query.core import burn
from exptrace.query.core.incident import attribute
from exptrace.query.core.inference import Method
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.report import ROLLED_BACK_RUN, ROLLED_BACK_WINDOW, Report
from exptrace.query.core.sqlfiles import load

DEFAULT_LIMIT = 200
"""Rows a list-returning query answers unless asked for another page size."""
MAX_LIMIT = 10_000
"""The largest page a caller may ask for."""
LAG_TARGET_MS = 30_000
"""The receiver's own lag (acknowledged -> queryable) should stay under this."""


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` in UTC."""

    start: str
    end: str

    @classmethod
    def parse(
        cls,
        start: str | dt.datetime | None = None,
        end: str | dt.datetime | None = None,
        last: dt.timedelta = dt.timedelta(hours=1),
    ) -> Window:
        end_at = _to_datetime(end) if end else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start_at = _to_datetime(start) if start else end_at - last
        if start_at >= end_at:
            raise ValueError("the window's start must be before its end")
        return cls(_text(start_at), _text(end_at))

    def params(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class Page:
    """Which slice of a list to answer: ``limit`` rows from ``offset`` (0-based)."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise ValueError(f"limit must be a whole number, got {self.limit!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int):
            raise ValueError(f"offset must be a whole number, got {self.offset!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be 0 or more, got {self.offset}")

    @classmethod
    def parse(cls, limit: str | None, offset: str | None) -> Page:
        """From query parameters (absent: the defaults); a bad value is a ValueError."""

        def whole(name: str, text: str | None, default: int) -> int:
            if text is None or not text.strip():
                return default
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {text!r}") from None

        return cls(whole("limit", limit, DEFAULT_LIMIT), whole("offset", offset, 0))

    def params(self) -> dict[str, int]:
        return {"limit": self.limit, "offset": self.offset}

    def cut(self, items: list[Any]) -> Rows:
        """This page of a list computed whole."""
        return Rows(items[self.offset : self.offset + self.limit], len(items), self)


class Rows(list):
    """One page of a longer list: the rows, plus how many there are in all (``total``)."""

    def __init__(self, rows: list[Any], total: int, page: Page) -> None:
        super().__init__(rows)
        self.total = total
        self.page = page

    @property
    def truncated(self) -> bool:
        """True when rows exist beyond this page (before or after it)."""
        return len(self) < self.total

    def overflow(self) -> dict[str, Any]:
        """The page's place in the whole list, for JSON answers."""
        return {
            "total": self.total,
            "shown": len(self),
            "limit": self.page.limit,
            "offset": self.page.offset,
            "truncated": self.truncated,
        }

    def headers(self) -> dict[str, str]:
        """The same, as HTTP headers beside a bare JSON list."""
        return {
            "X-Total-Count": str(self.total),
            "X-Limit": str(self.page.limit),
            "X-Offset": str(self.page.offset),
        }


def _to_datetime(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a date and time: {value!r} (use ISO 8601)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _text(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def json_safe(value: Any) -> Any:
    """JSON-safe: no NaN or infinities."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, Rows):
        return Rows([json_safe(v) for v in value], value.total, value.page)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class Queries:
    """Cohort SLIs, comparisons, coverage, attribution, incidents, burn rates, lag, cardinality."""

    def __init__(
        self,
        store: Store,
        registry: Registry | None = None,
        *,
        alpha: float = 0.05,
        method: Method = "always-valid",
        tuning_units: int = 1_000,
        unit_attribute: str = UNIT_MEMBER,
        trace_horizon_seconds: int = 300,
    ) -> None:
        """``method``: ``always-valid`` (look as often as you like) or ``fixed-horizon``
        (one look at a pre-registered end). ``tuning_units``: where the always-valid
        intervals are tightest. ``trace_horizon_seconds``: how far beyond the window a
        trace's spans are read, so a trace is counted whole in the window where it starts."""
        self.reader = store if isinstance(store, ReadOnlyStore) else ReadOnlyStore(store)
        self.registry = registry or Registry(store)
        self.alpha = alpha
        self.method: Method = method
        self.tuning_units = tuning_units
        self.unit_attribute = unit_attribute
        self.trace_horizon_seconds = trace_horizon_seconds

    def request_params(self, registered: list[Experiment] | None = None) -> dict[str, Any]:
        """Values for the shared request definition (``sql/requests_in_window.sql``): each
        registered experiment's unit attribute (from ``registered`` when the caller has
        already read the registry), the default for the others, and the trace horizon."""
        experiments = self.registry.list() if registered is None else registered
        return {
            "unit_attribute": self.unit_attribute,
            "unit_attributes": {e.id: e.unit for e in experiments},
            "trace_horizon_seconds": self.trace_horizon_seconds,
        }

    def run(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run the query ``sql/<name>.sql``; every value travels as a bound parameter."""
        sql = load(name)
        return self.reader.query(sql.text, sql.bind(params)).dicts()

    def run_page(self, name: str, params: dict[str, Any], page: Page) -> Rows:
        """Run a query that answers one page and counts every row in ``total_rows``."""
        rows = self.run(name, {**params, **page.params()})
        if rows:
            total = int(rows[0]["total_rows"])
        elif page.offset:  # past the end: ask only for the count
            counted = self.run(name, {**params, "limit": 1, "offset": 0})
            total = int(counted[0]["total_rows"]) if counted else 0
        else:
            total = 0
        for row in rows:
            del row["total_rows"]
        return Rows(rows, total, page)

    # -- 1. cohort SLIs --------------------------------------------------------------------

    def cohort_slis(
        self, window: Window, experiment: str = "", by_service: bool = False, by_route: bool = False
    ) -> list[dict[str, Any]]:
        """Requests, errors, availability and latency per (experiment, variant): the report's
        requests (each trace once, its root's outcome), by the edge's route with
        ``by_route``; with ``by_service`` each service's own entry spans instead."""
        rows = self.run(
            "cohort_slis",
            {
                **window.params(),
                "experiment": experiment,
                "by_service": int(by_service),
                "by_route": int(by_route),
                **self.request_params(),
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
        if registered is None or registered.start_time is None:
            return None
        end = registered.end_time if registered.status != "running" else None
        window = Window.parse(start=registered.start_time, end=end or now)
        rollback = self.registry.first_rollback(experiment)
        if rollback is not None and window.start < Window.parse(end=rollback).end < window.end:
            window = Window.parse(start=window.start, end=rollback)
        return window

    def report(self, experiment: str, window: Window | None = None) -> dict[str, Any]:
        """Every variant against control at the randomization unit, valid while watched.

        ``window`` None: the experiment's whole run (:meth:`run_window`), the question the
        always-valid comparison answers however often it is asked; for an experiment that never
        started, the last hour. A window given is a different question (``window.scope``
        says which was answered).

        Per treatment: the error rate and the p50/p95/p99 latency effects with intervals and
        p-values (Holm-adjusted across treatments and metrics), a ``decision`` and the words
        for people; per arm, units and requests; SRM on units; contamination and the unit's
        coverage in the notes.
        """
        scope = "custom"
        if window is None:
            window = self.run_window(experiment)
            scope = "run"
        if window is None:
            window, scope = Window.parse(), "last_hour"
        built = Report(self, experiment, window, scope).build()
        rollback = self.registry.first_rollback(experiment)
        built["rolled_back_at"] = rollback
        if rollback is not None and scope == "run":
            built["notes"].append(ROLLED_BACK_RUN.format(at=rollback[:19]))
        elif rollback is not None and window.end > Window.parse(end=rollback).end:
            built["notes"].append(ROLLED_BACK_WINDOW.format(at=rollback[:19]))
        return built

    # -- 3. tagging and propagation coverage ---------------------------------------------------

    def tagging_coverage(
        self, window: Window, bucket_seconds: int = 300, threshold: float = 0.95
    ) -> dict[str, Any]:
        rows = self.run("tagging_coverage", {**window.params(), "bucket_seconds": bucket_seconds})
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

    def propagation_coverage(self, window: Window, threshold: float = 0.95) -> dict[str, Any]:
        rows = self.run("propagation_coverage", window.params())
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
        return self.run("attribution", window.params())

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
        return attribute(self, window, service, route, Page(limit, offset))

    # -- 6. burn rates ---------------------------------------------------------------------------

    def burn_rates(
        self,
        at: str | dt.datetime | None = None,
        default_availability: float = 0.999,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> Rows:
        """Experiment-caused burn per (experiment, variant) (:mod:`exptrace.query.core.burn`): the
        excess over control against the availability SLO per window, with intervals, each
        window's coverage, and the status its rules give; the largest excess first; one page
        of them (``total``: how many in all)."""
        page = Page(limit, offset)
        moment = (
            _text(_to_datetime(at)) if at else _text(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        )
        end = _to_datetime(moment)
        params = {
            "start": _text(end - burn.HORIZON),
            "end": moment,
            "windows": list(burn.WINDOWS.values()),
            "default_availability": default_availability,
            "experiment": "",
            **self.request_params(),
        }
        rows = self.run_page("burn_rates", params, page)
        return Rows([{**burn.evaluate(row, end), "at": moment} for row in rows], rows.total, page)

    # -- 7. ingestion lag and cardinality ---------------------------------------------------------

    def ingestion_lag(self, window: Window, target_ms: int = LAG_TARGET_MS) -> list[dict[str, Any]]:
        """Two measures, one row each per service: ``pipeline`` (received -> queryable, the
        receiver's own lag against ``target_ms``) and ``arrival`` (how late telemetry from
        its sources reaches the store, with future-dated items counted apart)."""
        return self.run("ingestion_lag", {**window.params(), "target_ms": target_ms})

    def cardinality(self, window: Window, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> Rows:
        """Per service, the most cohorts first; one page (``total``: services in all)."""
        return self.run_page("cardinality", window.params(), Page(limit, offset))

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
            **self.request_params([e for e in [self.registry.find(experiment)] if e]),
        }
        rows = self.run("failed_examples", params)
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
        return self.run_page("seen_experiments", params, Page(limit, offset))
