"""Every query operation, defined once: its name, its typed parameters with their defaults,
what it computes on :class:`~exptrace.query.core.queries.Queries`, its HTTP path, and the
words that describe it.

The HTTP routes (``web/http_api``), both clients (``cli/client``: in process and over HTTP)
and the CLI's query commands (``cli/commands``) are derived from :data:`OPERATIONS`; adding
a query is a ``.sql``, a method on ``Queries``, a row here and, for people, a renderer.

Values travel in one form everywhere ("wire" values): a window as ``start``/``end`` text, a
page as ``limit``/``offset``, a moment as text. HTTP carries them as query parameters
(``from``/``to`` for the window), parsed back by each :class:`Param`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exptrace.propagation import FALSE_WORDS, TRUE_WORDS
from exptrace.query.core.answers import DEFAULT_LIMIT, Page
from exptrace.query.core.queries import BUCKET_SECONDS, COVERAGE_THRESHOLD, Queries
from exptrace.query.core.registry import known
from exptrace.query.core.window_check import parse_moment, parse_window
from exptrace.query.errors import BadInput

API = "/api/v1"
"""Where every JSON route lives."""
EXPERIMENTS = f"{API}/experiments"
EXPERIMENT = f"{EXPERIMENTS}/{{id}}"
EXPERIMENT_HISTORY = f"{EXPERIMENT}/history"
EXPERIMENT_ROLLBACK = f"{EXPERIMENT}/rollback"
EXPERIMENT_DECIDE = f"{EXPERIMENT}/decide"
EXPERIMENT_POLICY = f"{EXPERIMENT}/policy"
EXPERIMENT_ACTION = f"{EXPERIMENT}/{{action}}"
"""start / stop / archive; routed after the other ``EXPERIMENT_*`` paths."""
DECISION_LOG = f"{API}/decisions"
FREEZE = f"{API}/freeze"
UNFREEZE = f"{API}/unfreeze"
WATCH = f"{API}/watch"
WATCH_HISTORY = f"{WATCH}/history"
WATCH_ROUND = f"{WATCH}/round"
"""The registry's and the watcher's calls (not query operations): the paths the web routes
serve and the HTTP client asks, named once."""
MAX_BUCKET_SECONDS = 2**32 - 1


def _whole_number(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, got {text!r}") from None


def _flag(name: str, text: str) -> bool:
    if text.lower() not in TRUE_WORDS + FALSE_WORDS:
        raise BadInput(f"{name} must be true or false (1/0, yes/no, on/off), got {text!r}")
    return text.lower() in TRUE_WORDS


def _share(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise BadInput(f"{name} must be a share between 0 and 1, got {text!r}")
    return value


def _bucket(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_BUCKET_SECONDS:
        raise BadInput(
            f"{name} must be a whole number from 1 to {MAX_BUCKET_SECONDS}, got {text!r}"
        )
    return value


def _as_text(name: str, text: str) -> str:
    return text


@dataclass(frozen=True)
class Param:
    """One parameter: its keyword (``name``), its HTTP name, default, and type.

    ``kind``: ``text``, ``flag``, ``share``, ``bucket``, ``whole``, ``moment``, ``window``
    (``start``/``end``) or ``page`` (``limit``/``offset``). ``in_path``: part of the HTTP
    path, not a query parameter. ``help``: what it means, for people (the CLI's help)."""

    name: str
    kind: str = "text"
    default: Any = ""
    http: str = ""
    in_path: bool = False
    help: str = ""

    @property
    def http_name(self) -> str:
        return self.http or self.name

    def parse(self, text: str) -> Any:
        """The value from its HTTP text; a bad one is a :class:`BadInput`."""
        return _PARSERS[self.kind](self.http_name, text)

    def send(self, value: Any) -> str | None:
        """The HTTP text for ``value``; None: leave the parameter out (the default)."""
        if value is None or value == "" or (self.kind == "flag" and not value):
            return None
        return "true" if self.kind == "flag" else str(value)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "text": _as_text,
    "moment": _as_text,
    "window": _as_text,
    "flag": _flag,
    "share": _share,
    "bucket": _bucket,
    "whole": _whole_number,
}

WINDOW = (
    Param("start", "window", None, http="from"),
    Param("end", "window", None, http="to"),
)
"""A time window: absent, the last hour (or, for the report, the experiment's whole run)."""


def page(rows: str) -> tuple[Param, Param]:
    """``limit``/``offset``: one page of ``rows`` (words for people)."""
    return (
        Param("limit", "whole", DEFAULT_LIMIT, help=rows),
        Param("offset", "whole", 0),
    )


@dataclass(frozen=True)
class Operation:
    """A question the API answers: ``GET path`` with ``params``, computed by ``compute``
    from wire values on :class:`Queries`. ``help``: one line for people; empty: not a CLI
    command (HTTP and Python only). ``whole_run``: without a window the answer covers the
    experiment's whole run."""

    name: str
    path: str
    params: tuple[Param, ...]
    compute: Callable[..., Any]
    help: str = ""
    whole_run: bool = False

    def arguments(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value: ``given``, else the default; an unknown name is a bug."""
        unknown = set(given) - {p.name for p in self.params}
        if unknown:
            raise TypeError(f"{self.name} takes no {', '.join(sorted(unknown))}")
        return {p.name: given.get(p.name, p.default) for p in self.params}

    def run(self, queries: Queries, **given: Any) -> Any:
        """The answer, from wire values (absent ones take their defaults)."""
        return self.compute(queries, **self.arguments(given))

    def from_http(self, query: Mapping[str, str], path: Mapping[str, str]) -> dict[str, Any]:
        """Wire values from an HTTP request's query and path parameters."""
        values: dict[str, Any] = {}
        for p in self.params:
            text = (path if p.in_path else query).get(p.http_name)
            blank = text is None or (p.kind == "whole" and not text.strip())
            values[p.name] = p.default if blank else p.parse(text)
        if any(p.kind == "whole" for p in self.params):  # the page, checked before the query
            Page(values["limit"], values["offset"])
        return values

    def to_http(self, given: Mapping[str, Any], quote: Callable[[str], str]) -> tuple[str, dict]:
        """The HTTP path and query parameters that ask for ``given``."""
        args = self.arguments(given)
        path = self.path.format(
            **{p.http_name: quote(str(args[p.name])) for p in self.params if p.in_path}
        )
        asked = [p for p in self.params if not p.in_path and p.name in given]  # defaults: unsaid
        query = {p.http_name: p.send(args[p.name]) for p in asked}
        return path, {k: v for k, v in query.items() if v is not None}


EXACT = Param(
    "exact",
    "flag",
    False,
    help="read every request fact (per-unit sums, exact quantiles; slower) instead of the "
    "unit groups",
)
"""Answer from the request facts themselves (:mod:`~exptrace.query.core.rollup`)."""

REPORT = Operation(
    "report",
    f"{API}/report/{{id}}",
    (
        Param("id", in_path=True, help="experiment id"),
        *WINDOW,
        EXACT,
    ),
    lambda q, id, start, end, exact: known(
        q.report(id, parse_window(start, end) if start or end else None, exact=exact)
    ),
    "every variant against control, over the experiment's whole run unless a window "
    "is given (a different question)",
    whole_run=True,
)
SLIS = Operation(
    "slis",
    f"{API}/slis",
    (
        *WINDOW,
        Param("experiment"),
        Param("by_service", "flag", False),
        Param("by_route", "flag", False),
    ),
    lambda q, start, end, experiment, by_service, by_route: q.cohort_slis(
        parse_window(start, end), experiment, by_service, by_route
    ),
)
COVERAGE = Operation(
    "coverage",
    f"{API}/coverage",
    (
        *WINDOW,
        Param("bucket_seconds", "bucket", BUCKET_SECONDS),
        Param("threshold", "share", COVERAGE_THRESHOLD),
    ),
    lambda q, start, end, bucket_seconds, threshold: q.tagging_coverage(
        parse_window(start, end), bucket_seconds, threshold
    ),
    "tagging coverage: share of entry requests that carry an assignment",
)
PROPAGATION = Operation(
    "propagation",
    f"{API}/propagation",
    (*WINDOW, Param("threshold", "share", COVERAGE_THRESHOLD)),
    lambda q, start, end, threshold: q.propagation_coverage(parse_window(start, end), threshold),
    "propagation coverage per service hop, the hop that loses the tag first",
)
ATTRIBUTION = Operation(
    "attribution",
    f"{API}/attribution",
    WINDOW,
    lambda q, start, end: q.attribution(parse_window(start, end)),
    "attribution completeness: tagged telemetry linked to an artifact",
)
LAG = Operation(
    "lag",
    f"{API}/lag",
    WINDOW,
    lambda q, start, end: q.ingestion_lag(parse_window(start, end)),
    "ingestion lag percentiles per signal and service",
)
CARDINALITY = Operation(
    "cardinality",
    f"{API}/cardinality",
    (*WINDOW, *page("services, the most cohorts first")),
    lambda q, start, end, limit, offset: q.cardinality(
        parse_window(start, end), limit=limit, offset=offset
    ),
    "experiment, cohort and attribute cardinality per service",
)
INCIDENT = Operation(
    "incident",
    f"{API}/incident",
    (
        *WINDOW,
        Param("service", help="only this service (default: all)"),
        Param("route", help="only this route (default: all)"),
        *page("ranked arms, the strongest evidence first"),
    ),
    lambda q, start, end, service, route, limit, offset: q.incident(
        parse_window(start, end), service, route, limit=limit, offset=offset
    ),
    "which experiment broke things in a window",
)
SEEN = Operation(
    "seen",
    f"{API}/seen",
    (
        *WINDOW,
        Param("unregistered", "flag", False, help="only those not in the registry"),
        *page("experiments, in id order"),
    ),
    lambda q, start, end, unregistered, limit, offset: q.seen_experiments(
        parse_window(start, end), unregistered=unregistered, limit=limit, offset=offset
    ),
    "experiments that tagged requests in a window, registered or not",
)
BURN = Operation(
    "burn",
    f"{API}/burn",
    (
        Param("at", "moment", None, help="evaluate at this time, ISO 8601 (default: now)"),
        *page("rows, the most burning first"),
        EXACT,
    ),
    lambda q, at, limit, offset, exact: q.burn_rates(
        parse_moment(at) if at else None, limit=limit, offset=offset, exact=exact
    ),
    "SLO burn rates per experiment-variant",
)

OPERATIONS = (
    REPORT,
    SLIS,
    COVERAGE,
    PROPAGATION,
    ATTRIBUTION,
    LAG,
    CARDINALITY,
    INCIDENT,
    SEEN,
    BURN,
)
"""Every query operation, in the order the CLI lists them."""

__all__ = ["OPERATIONS", "Operation", "Param"]
