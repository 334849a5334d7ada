"""Small HTML pieces the pages share: the layout, tables, badges, the window form, formats.

Every value from the store, the registry or the request is escaped here or in ``charts``.
"""

from __future__ import annotations

import datetime as dt
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from exptrace.query.core import DEFAULT_LAST, Page, Rows, Window, as_datetime, parse_window
from exptrace.query.errors import BadInput
from exptrace.query.web.charts import Marker, esc

NAV = (
    ("/ui", "experiments"),
    ("/ui/oncall", "on call"),
    ("/ui/executive", "executive"),
    ("/ui/incident", "incident"),
    ("/ui/coverage", "coverage"),
    ("/ui/propagation", "propagation"),
    ("/ui/burn", "burn rates"),
    ("/ui/lag", "ingestion lag"),
    ("/ui/cardinality", "cardinality"),
)
PRESETS = {"15m": 15, "1h": 60, "6h": 360, "1d": 1440, "7d": 10080}
DEFAULT_PRESET = next(n for n, m in PRESETS.items() if m * 60 == DEFAULT_LAST.total_seconds())
"""The preset that is the default window."""
RUN = "run"
"""The experiment page's default window: the experiment's whole run (``?last=run``)."""
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def layout(title: str, body: str, path: str, signed_in: bool = False) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=active" if _active(path, href) else ""}>{label}</a>'
        for href, label in NAV
    )
    sign_out = (
        '<form method="post" action="/ui/signout"><button>sign out</button></form>'
        if signed_in
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · exptrace</title>"
        "<link rel='stylesheet' href='/ui/static/exptrace.css'>"
        "<link rel='icon' href='/ui/static/favicon.svg' type='image/svg+xml'></head><body>"
        f"<header><span class='brand'>exptrace</span><nav>{nav}</nav>{sign_out}</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def _active(path: str, href: str) -> bool:
    return path == href or (href == "/ui" and path.startswith("/ui/experiments"))


@dataclass(frozen=True)
class Choice:
    """The window a page shows, as the user asked for it (preset or absolute from/to)."""

    window: Window
    last: str | None
    start: str
    end: str


def choose_window(
    request: Request, default: str = DEFAULT_PRESET, run: Window | None = None
) -> Choice:
    """``from``/``to`` (ISO 8601, UTC) win over ``last``; a bad value is a ValueError.
    ``run``: the experiment's whole run, the default and the ``last=run`` choice (without
    it, ``last=run`` is ``default``)."""
    q = request.query_params
    start, end = q.get("from", "").strip(), q.get("to", "").strip()
    if start or end:
        last = dt.timedelta(minutes=PRESETS.get(q.get("last", ""), PRESETS[default]))
        window = parse_window(start or None, end or None, last=last)
        return Choice(window, None, window.start[:19], window.end[:19])
    last = q.get("last", RUN if run is not None else default)
    if last == RUN:
        if run is not None:
            return Choice(run, RUN, run.start[:19], run.end[:19])
        last = default
    if last not in PRESETS:
        raise BadInput(f"unknown window {last!r}: use one of {', '.join(PRESETS)}")
    window = Window.parse(last=dt.timedelta(minutes=PRESETS[last]))
    return Choice(window, last, window.start[:19], window.end[:19])


def window_form(
    path: str, choice: Choice, extra: dict[str, str] | None = None, run: bool = False
) -> str:
    """Presets as links (``run``: the whole run first), absolute from/to (UTC) and any extra
    filters as a GET form."""
    extra = extra or {}
    keep = {k: v for k, v in extra.items() if v}
    presets = " ".join(
        f"<b>{k}</b>"
        if k == choice.last
        else f'<a href="{esc(path)}?{esc(urllib.parse.urlencode({**keep, "last": k}))}">{k}</a>'
        for k in ([RUN] if run else []) + list(PRESETS)
    )
    inputs = "".join(
        f'<label>{esc(name)}<input name="{esc(name)}" value="{esc(value)}" size="14"></label>'
        for name, value in extra.items()
    )
    return (
        f'<form class="window" method="get" action="{esc(path)}">'
        f'<span class="presets">last: {presets}</span>'
        f"<label>from (UTC){_moment_input('from', choice.start)}</label>"
        f"<label>to (UTC){_moment_input('to', choice.end)}</label>"
        f"{inputs}<button>show</button></form>"
    )


def _moment_input(name: str, value: str) -> str:
    """A UTC moment as typed text in 24-hour ISO form (a browser's date picker would show it
    in the reader's locale, 12-hour in some, beside a label that says UTC)."""
    return (
        f'<input name="{name}" value="{esc(value)}" size="19" maxlength="32" '
        'placeholder="YYYY-MM-DD HH:MM:SS" title="UTC, 24-hour: YYYY-MM-DD HH:MM:SS">'
    )


def window_query(choice: Choice) -> str:
    """The query string that shows the same window on another page ("" for the default)."""
    if choice.last in (DEFAULT_PRESET, RUN):
        return ""
    if choice.last:
        return urllib.parse.urlencode({"last": choice.last})
    return urllib.parse.urlencode({"from": choice.start, "to": choice.end})


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    classes: Iterable[str] | None = None,
    raw_columns: frozenset[int] = frozenset(),
    tips: dict[str, str] | None = None,
) -> str:
    """A table; cells are escaped unless their column is in ``raw_columns`` (pre-built HTML).
    ``tips`` explain headers (header -> one line, shown on hover and marked with a dotted
    underline)."""
    tips = tips or {}
    labels = [
        f'<abbr title="{esc(tips[h])}">{esc(h)}</abbr>' if h in tips else esc(h) for h in headers
    ]
    head = "".join(f"<th>{label}</th>" for label in labels)
    row_classes = iter(classes) if classes is not None else None
    body = []
    for row in rows:
        cls = next(row_classes, "") if row_classes is not None else ""
        cells = "".join(
            f"<td{' class=num' if isinstance(v, (int, float)) else ''}>"
            f"{v if i in raw_columns else esc(_cell(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr{f' class={cls}' if cls else ''}>{cells}</tr>")
    if not body:
        empty = f"<tr><td colspan={len(headers)} class=muted>none</td></tr>"
        return f"<table><tr>{head}</tr>{empty}</table>"
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if math.isfinite(value) else "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def path_segment(experiment_id: str) -> str:
    """An experiment id as one URL path segment (hostile ids included)."""
    return urllib.parse.quote(experiment_id, safe="")


def experiment_link(experiment_id: str, choice: Choice, text: str | None = None) -> str:
    """A link to the experiment's page over the same window (default window: no query)."""
    query = window_query(choice)
    href = f"/ui/experiments/{path_segment(experiment_id)}" + (f"?{query}" if query else "")
    return f'<a href="{esc(href)}">{esc(text if text is not None else experiment_id)}</a>'


def p_text(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3g}"


def markers(events: list[dict[str, Any]]) -> list[Marker]:
    """Registry events as chart annotations."""
    return [
        Marker(
            as_datetime(e["at"]),
            f"{e['action']} {e.get('experiment_id', '')}".strip(),
            f"by {e.get('actor', '')}",
        )
        for e in events
    ]


def page_of(request: Request) -> Page:
    """The ``limit``/``offset`` a page was asked for (defaults when absent)."""
    q = request.query_params
    return Page.parse(q.get("limit"), q.get("offset"))


def overflow(rows: Rows, what: str, request: Request, offset_name: str = "offset") -> str:
    """A banner saying the list was cut (how many in all), with links to the pages around."""
    if not rows.truncated:
        return ""
    page = rows.page
    if not rows:  # past the end: the link goes back to the last page
        last = max(rows.total - page.limit, 0)
        query = urllib.parse.urlencode({**request.query_params, offset_name: last})
        return (
            f'<div class="banner info">Nothing from offset {page.offset:,}: there are '
            f"{rows.total:,} {esc(what)}. "
            f'<a href="{esc(request.url.path)}?{esc(query)}">last {page.limit}</a></div>'
        )
    first = page.offset + 1
    links = []
    for label, offset in (
        (f"previous {page.limit}", max(page.offset - page.limit, 0) if page.offset else None),
        (f"next {page.limit}", page.offset + page.limit)
        if page.offset + page.limit < rows.total
        else ("", None),
    ):
        if offset is not None and label:
            query = urllib.parse.urlencode({**request.query_params, offset_name: offset})
            links.append(f'<a href="{esc(request.url.path)}?{esc(query)}">{esc(label)}</a>')
    return (
        f'<div class="banner info">Showing {first:,}-{page.offset + len(rows):,} of '
        f"{rows.total:,} {esc(what)}. {' · '.join(links)}</div>"
    )
