"""The web pages under ``/ui``: charts drawn on the server as SVG, no JavaScript, nothing from
another host. Read-only; when a token is set, a browser signs in once (see ``auth``).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from exptrace.ingest.store import StoreError
from exptrace.query import charts
from exptrace.query.api import Queries, json_safe
from exptrace.query.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Sessions,
    SignInError,
    cookie_options,
    new_csrf,
    read_form,
    safe_next,
)
from exptrace.query.charts import Bar, Hop, Interval, Line, LineChart, Marker, esc
from exptrace.query.html_parts import (
    CSP,
    badge,
    choose_window,
    layout,
    ms,
    pct,
    pp,
    table,
    window_form,
    window_query,
)
from exptrace.query.registry import Experiment, Registry, UnknownExperiment
from exptrace.query.series import Series, as_datetime, bucket_seconds, difference_interval

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LEGACY_METHOD = (
    "error rate: two-proportion z-test (unpooled) with a Wald interval on the difference; "
    "latency: Mann-Whitney U on durations"
)
SLO_NAMES = {"latency_p95_ms": "p95 latency", "latency_p99_ms": "p99 latency"}
BURN_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
PAGE_BURN = 14.4


class NotFound(Exception):
    """A page for something that is neither registered nor seen in the window (HTTP 404)."""

    def __init__(self, title: str, body: str) -> None:
        super().__init__(title)
        self.title, self.body = title, body


def decision(comparison: dict[str, Any]) -> str:
    """fail / pass / inconclusive: the report's structured decision, else read off the verdict."""
    given = comparison.get("decision")
    if isinstance(given, dict):
        given = given.get("decision") or given.get("outcome")
    if isinstance(given, str) and given.lower() in charts.VERDICT_COLOURS:
        return given.lower()
    verdict = str(comparison.get("verdict", ""))
    if "more errors" in verdict or "slower" in verdict:
        return "fail"
    if "fewer errors" in verdict or "faster" in verdict:
        return "pass"
    return "inconclusive"


def _metric_rows(comparison: dict[str, Any], colour: str) -> list[Interval]:
    """Interval rows of one comparison: per-metric estimates when the report has them."""
    variant, verdict = comparison["variant"], str(comparison.get("verdict", ""))
    metrics = comparison.get("metrics")
    if isinstance(metrics, dict):
        metrics = [{"metric": k, **v} for k, v in metrics.items() if isinstance(v, dict)]
    rows = []
    for metric in metrics if isinstance(metrics, list) else []:
        name = str(metric.get("metric") or metric.get("name") or "")
        if "error" not in name:  # the chart is in error-rate points; latency gets its own row
            continue
        interval = metric.get("interval") or metric.get("ci") or [None, None]
        rows.append(
            Interval(
                f"{variant} · {name}",
                metric.get("estimate"),
                interval[0],
                interval[1],
                colour,
                verdict,
            )
        )
    if rows:
        return rows
    low, high = (comparison.get("error_rate_diff_ci") or [None, None])[:2]
    return [
        Interval(
            variant,
            comparison.get("error_rate_diff"),
            low,
            high,
            colour,
            verdict or "no comparison",
        )
    ]


def _record(experiment: Experiment) -> str:
    """The registry record as a definition list (weights, artifacts, SLOs in words)."""
    weights = sum(experiment.variants.values()) or 1
    variants = table(
        ["variant", "weight", "share", "artifacts"],
        [
            [
                f"{v} (control)" if v == experiment.control else v,
                w,
                pct(w / weights, 1),
                ", ".join(f"{k}: {a}" for k, a in experiment.artifacts.get(v, {}).items()) or "-",
            ]
            for v, w in experiment.variants.items()
        ],
    )
    slo = []
    if "availability" in experiment.slo:
        slo.append(f"availability ≥ {pct(experiment.slo['availability'])}")
    slo += [
        f"{SLO_NAMES.get(k, k)} ≤ {v:g}{' ms' if k.endswith('_ms') else ''}"
        for k, v in experiment.slo.items()
        if k != "availability"
    ]
    fields = [
        ("name", experiment.name or "-"),
        ("owner", experiment.owner or "-"),
        ("description", experiment.description or "-"),
        ("status", experiment.status),
        ("scope", ", ".join(experiment.scope) or "every service"),
        ("SLO", "; ".join(slo) or "none (availability 99.9% assumed for burn rates)"),
        ("started", experiment.start_time or "-"),
        ("stopped", experiment.end_time or "-"),
        (
            "version",
            f"{experiment.version}, changed {experiment.changed_at} by {experiment.changed_by}",
        ),
    ]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in fields)
    return f'<dl class="record">{items}</dl><h3>Variants</h3>{variants}'


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested registry fields as dotted paths: ``artifacts.B.image``."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _changes(old: str, new: str) -> str:
    """Which fields a registry change touched, as ``field: old → new``, nested ones by path."""
    if not old:
        return "created"
    before, after = _flat(json.loads(old)), _flat(json.loads(new))
    skip = {"version", "changed_at", "changed_by"}
    return "; ".join(
        f"{k}: {_plain(before.get(k))} → {_plain(after.get(k))}"
        for k in sorted(set(before) | set(after))
        if k not in skip and before.get(k) != after.get(k)
    )


def _plain(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _markers(events: list[dict[str, Any]]) -> list[Marker]:
    return [
        Marker(
            as_datetime(e["at"]),
            f"{e['action']} {e.get('experiment_id', '')}".strip(),
            f"by {e.get('actor', '')}",
        )
        for e in events
    ]


def page_routes(
    queries: Queries, registry: Registry, authorized: Callable[[Request], bool]
) -> list[Route]:
    """The pages, the style sheet and sign-in; ``authorized`` is the API's bearer check."""
    sessions = Sessions(authorized)
    series = Series(queries.reader)
    static = Path(__file__).parent / "static"
    assets = {
        "exptrace.css": ((static / "exptrace.css").read_bytes(), "text/css"),
        "favicon.svg": ((static / "favicon.svg").read_bytes(), "image/svg+xml"),
    }

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status, headers=HEADERS)

    def guarded(build: Callable[[Request], tuple[str, str]]):
        async def handle(request: Request) -> Response:
            path = request.url.path
            if not sessions.allowed(request):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(
                    f"/ui/signin?{_encode({'next': target})}", 303, headers=HEADERS
                )
            signed_in = sessions.required
            try:
                title, body = await run_in_threadpool(build, request)
            except NotFound as missing:
                return html(layout(missing.title, missing.body, path, signed_in), 404)
            except UnknownExperiment as error:
                return html(layout("Not found", f"<p>{esc(error)}</p>", path, signed_in), 404)
            except (ValueError, TypeError) as error:
                return html(layout("Bad request", f"<p>{esc(error)}</p>", path, signed_in), 400)
            except StoreError as error:
                body = f"<p>The store failed: {esc(str(error)[:500])}</p>"
                return html(layout("Store unavailable", body, path, signed_in), 503)
            return html(layout(title, body, path, signed_in))

        return handle

    # -- sign-in ---------------------------------------------------------------------------

    def signin_form(request: Request, message: str = "", status: int = 200) -> Response:
        csrf = new_csrf()
        target = safe_next(request.query_params.get("next"))
        note = f'<div class="banner bad">{esc(message)}</div>' if message else ""
        body = (
            f"{note}<div class='panel'><p>This exptrace server needs its token "
            "(<code>EXPTRACE_TOKEN</code>). It is checked once; the browser then keeps a "
            "session cookie for 12 hours.</p>"
            f'<form method="post" action="/ui/signin?{esc(_encode({"next": target}))}">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            '<label>token <input type="password" name="token" autocomplete="current-password" '
            "autofocus></label> <button>sign in</button></form></div>"
        )
        response = html(layout("Sign in", body, "/ui/signin"), status)
        response.set_cookie(CSRF_COOKIE, csrf, max_age=3600, **cookie_options(request))
        return response

    async def signin_page(request: Request) -> Response:
        if not sessions.required:
            return RedirectResponse("/ui", 303, headers=HEADERS)
        return signin_form(request)

    async def signin_submit(request: Request) -> Response:
        try:
            form = await read_form(request)
            session = await run_in_threadpool(sessions.sign_in, request, form)
        except SignInError as error:
            return signin_form(request, str(error), error.status)
        response = RedirectResponse(
            safe_next(request.query_params.get("next")), 303, headers=HEADERS
        )
        response.set_cookie(
            SESSION_COOKIE, session, max_age=int(sessions.lifetime), **cookie_options(request)
        )
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    async def signout(request: Request) -> Response:
        sessions.sign_out(request)
        response = RedirectResponse("/ui/signin", 303, headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def asset(request: Request) -> Response:
        if request.path_params["name"] not in assets:
            return Response("not found", 404, media_type="text/plain")
        content, media_type = assets[request.path_params["name"]]
        return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    # -- experiments ---------------------------------------------------------------------------

    def experiments(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        registered = registry.list()
        seen = {row["experiment"]: row for row in series.seen(choice.window)}
        query = window_query(choice)
        link = lambda e: f'<a href="/ui/experiments/{esc(_path(e))}?{esc(query)}">{esc(e)}</a>'  # noqa: E731

        def health(experiment_id: str) -> str:
            """Each treatment's decision against control, and the SRM check, as badges."""
            if experiment_id not in seen:
                return esc("no traffic")
            report = json_safe(queries.report(experiment_id, choice.window))
            badges = [
                badge(f"{c['variant']}: {decision(c)}", decision(c)) for c in report["comparisons"]
            ]
            if (report.get("sample_ratio") or {}).get("mismatch"):
                badges.append(badge("sample ratio mismatch", "fail"))
            return " ".join(badges) or esc("; ".join(report["notes"]) or "-")

        rows = [
            [
                link(e.id),
                esc(e.name or "-"),
                badge(e.status, e.status),
                esc(e.owner or "-"),
                esc(", ".join(f"{v} {w:g}" for v, w in e.variants.items())),
                health(e.id),
                esc(f"{seen[e.id]['spans']:,}" if e.id in seen else "none"),
            ]
            for e in registered
        ]
        body = window_form("/ui", choice) + "<h2>Registered</h2>"
        body += table(
            [
                "experiment",
                "name",
                "status",
                "owner",
                "variants (weights)",
                "against control",
                "tagged entry spans",
            ],
            rows,
            classes=["bad" if 'class="badge fail"' in r[5] else "" for r in rows],
            raw_columns=frozenset(range(7)),
        )
        known = {e.id for e in registered}
        unregistered = [row for e, row in seen.items() if e not in known]
        body += "<h2>Seen in telemetry, not registered</h2>"
        body += table(
            ["experiment", "variants seen", "tagged entry spans", "last seen (UTC)"],
            [
                [
                    link(r["experiment"]),
                    esc(", ".join(r["variants"])),
                    esc(f"{r['spans']:,}"),
                    esc(str(r["last_seen"])[:19]),
                ]
                for r in unregistered
            ],
            raw_columns=frozenset(range(4)),
        )
        return "Experiments", body

    def experiment(request: Request) -> tuple[str, str]:
        experiment_id = request.path_params["id"]
        choice = choose_window(request)
        path = f"/ui/experiments/{_path(experiment_id)}"
        found = registry.find(experiment_id)
        report = json_safe(queries.report(experiment_id, choice.window))
        if found is None and not report["cohorts"]:
            raise NotFound(
                f"Experiment {experiment_id}",
                window_form(path, choice)
                + '<div class="banner info">This experiment is not in the registry and no request '
                "in this window carries it. Try a longer window.</div>",
            )
        control = report["control"]
        cohorts = report["cohorts"]
        comparisons = report["comparisons"]
        verdicts = {c["variant"]: decision(c) for c in comparisons}
        colour = charts.colours([c["variant"] for c in cohorts], control)
        colour.update({v: charts.BAD for v, d in verdicts.items() if d == "fail"})
        parts = [window_form(path, choice)]
        if found is None:
            parts.append(
                '<div class="banner warn">Not in the registry: seen in telemetry only. Control is '
                f"assumed to be variant {esc(control)!s}; register it to record weights, "
                "artifacts and SLOs.</div>"
            )
        for c in comparisons:
            if verdicts[c["variant"]] == "fail":
                parts.append(
                    f'<div class="banner bad"><b>Variant {esc(c["variant"])} is worse than '
                    f"{esc(control)}</b>: {esc(c.get('verdict', ''))} — error rate "
                    f"{pct(c['error_rate'])} against {pct(c['control_error_rate'])}.</div>"
                )
        srm = report.get("sample_ratio")
        if srm and srm.get("mismatch"):
            observed = ", ".join(f"{v} {n:,}" for v, n in srm["observed"].items())
            expected = ", ".join(f"{v} {pct(s, 1)}" for v, s in srm["expected_share"].items())
            parts.append(
                '<div class="banner bad"><b>Sample ratio mismatch</b>: observed '
                f"{esc(observed)} against expected shares {esc(expected)} "
                f"(p = {srm['p_value']:.2g}). Assignment or logging is broken; do not trust the "
                "comparisons until it is fixed.</div>"
            )
        if not comparisons and not any(verdicts.values()):
            parts.extend(f'<div class="banner info">{esc(n)}</div>' for n in report["notes"])
        unit = report.get("unit") or "request (a trace, counted once at its first entry span)"
        method = report.get("method") or LEGACY_METHOD
        sizes = ", ".join(f"{c['variant']} {c['requests']:,}" for c in cohorts)
        parts.append(
            '<p class="facts">'
            f"<b>Unit</b>: {esc(unit)} · <b>Method</b>: {esc(method)} · "
            f"<b>alpha</b> = {report['alpha']:g} · <b>Sample sizes</b>: {esc(sizes)} · "
            f"<b>Control</b>: {esc(control)}</p>"
        )
        rows = [
            row
            for c in comparisons
            for row in _metric_rows(c, charts.VERDICT_COLOURS[verdicts[c["variant"]]])
        ]
        if rows:
            parts.append(
                charts.interval_chart(
                    f"Error rate difference against {control} (percentage points, "
                    f"{1 - report['alpha']:.0%} interval)",
                    rows,
                    pp,
                    "no difference",
                )
            )
        step = bucket_seconds(choice.window)
        points = series.experiment(experiment_id, choice.window, step)
        history = registry.history(experiment_id) if found else []
        markers = _markers([{**h, "experiment_id": ""} for h in history])
        start, end = as_datetime(choice.window.start), as_datetime(choice.window.end)
        lines_err, lines_p95 = [], []
        for variant in colour:
            mine = [p for p in points if p["variant"] == variant]
            width = 3.5 if verdicts.get(variant) == "fail" else 2.0
            label = f"{variant} (worse)" if verdicts.get(variant) == "fail" else variant
            lines_err.append(
                Line(
                    label,
                    [
                        (
                            as_datetime(p["bucket"]),
                            p["error_rate"],
                            f"({p['errors']}/{p['requests']})",
                        )
                        for p in mine
                    ],
                    colour[variant],
                    width,
                )
            )
            lines_p95.append(
                Line(
                    label,
                    [
                        (as_datetime(p["bucket"]), p["p95_ms"], f"({p['requests']} requests)")
                        for p in mine
                    ],
                    colour[variant],
                    width,
                )
            )
        availability = found.slo.get("availability") if found else None
        latency_slo = found.slo.get("latency_p95_ms") if found else None
        parts.append(
            LineChart(
                f"Error rate per variant ({step} s buckets)",
                start,
                end,
                step,
                lambda v: pct(v, 1),
                lines_err,
                markers,
                threshold=(1 - availability) if availability else None,
                threshold_label=f"SLO {pct(availability)} availability" if availability else "",
            ).svg()
        )
        parts.append(
            LineChart(
                f"p95 latency per variant ({step} s buckets)",
                start,
                end,
                step,
                ms,
                lines_p95,
                markers,
                threshold=latency_slo,
                threshold_label=f"SLO p95 ≤ {latency_slo:g} ms" if latency_slo else "",
            ).svg()
        )
        parts.append("<h2>Comparisons with control</h2>")
        parts.append(
            table(
                [
                    "variant",
                    "decision",
                    "requests",
                    "error rate",
                    "difference",
                    "interval",
                    "p-value",
                    "median",
                    "latency p-value",
                    "verdict",
                ],
                [
                    [
                        esc(c["variant"]),
                        badge(verdicts[c["variant"]], verdicts[c["variant"]]),
                        esc(f"{c['requests']:,} vs {c['control_requests']:,}"),
                        esc(f"{pct(c['error_rate'])} vs {pct(c['control_error_rate'])}"),
                        esc(pp(c.get("error_rate_diff"))),
                        esc(_interval(c.get("error_rate_diff_ci"))),
                        esc(_p(c.get("error_p_value"))),
                        esc(
                            f"{ms(c.get('median_ms'))} vs {ms(c.get('control_median_ms'))}"
                            if "median_ms" in c
                            else "-"
                        ),
                        esc(_p(c.get("latency_p_value"))),
                        esc(c.get("verdict", "")),
                    ]
                    for c in comparisons
                ],
                classes=["bad" if verdicts[c["variant"]] == "fail" else "" for c in comparisons],
                raw_columns=frozenset(range(10)),
            )
        )
        parts.append("<h2>Variants</h2>")
        parts.append(
            table(
                ["variant", "requests", "errors", "error rate", "p50", "p95", "p99"],
                [
                    [
                        c["variant"],
                        c["requests"],
                        c["errors"],
                        pct(c["error_rate"]),
                        ms(c["p50_ms"]),
                        ms(c["p95_ms"]),
                        ms(c["p99_ms"]),
                    ]
                    for c in cohorts
                ],
            )
        )
        if found is not None:
            parts.append("<h2>Registry record</h2>" + _record(found))
            parts.append("<h2>Changes</h2>")
            parts.append(
                table(
                    ["at (UTC)", "actor", "action", "what changed"],
                    [
                        [str(h["at"])[:19], h["actor"], h["action"], _changes(h["old"], h["new"])]
                        for h in history
                    ],
                )
            )
        status = f" {badge(found.status, found.status)}" if found else " " + badge("unregistered")
        return (
            f"Experiment {experiment_id}",
            f"<p>{esc(found.name if found else '')}{status}</p>" + "".join(parts),
        )

    # -- incident --------------------------------------------------------------------------

    def incident(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        service = request.query_params.get("service", "").strip()
        route = request.query_params.get("route", "").strip()
        result = json_safe(queries.incident(choice.window, service, route))
        controls = {c["experiment"]: c for c in result["controls"]}
        suspects, others = [], []
        for r in result["ranked"]:
            (suspects if (r.get("excess_errors") or 0) > 0 else others).append(r)
        rows = []
        for r in suspects:
            k = controls.get(r["experiment"])
            low = high = None
            if k and r["requests"] and k["requests"]:
                low, high = difference_interval(
                    r["errors"], r["requests"], k["errors"], k["requests"], queries.alpha
                )
            r["interval"] = (low, high)
            clear = low is not None and low > 0
            rows.append(
                Interval(
                    f"{r['experiment']} = {r['variant']}",
                    r["error_rate"] - (r["control_error_rate"] or 0),
                    low,
                    high,
                    charts.BAD if clear else charts.NEUTRAL,
                    f"{r['excess_errors']:.0f} excess errors" + ("" if clear else " (not clear)"),
                )
            )
        query = window_query(choice)
        parts = [window_form("/ui/incident", choice, {"service": service, "route": route})]
        if suspects and rows[0].colour == charts.BAD:
            top = suspects[0]
            parts.append(
                f'<div class="banner bad"><b>Top suspect: {esc(top["experiment"])} = '
                f"{esc(top['variant'])}</b> — {top['excess_errors']:.0f} errors more than its "
                f"control would have had ({pct(top['error_rate'])} against "
                f"{pct(top['control_error_rate'])}), {pct(top['error_share'], 0)} of all "
                "errors in scope.</div>"
            )
        elif not suspects:
            parts.append(
                '<div class="banner good">No experiment variant has more errors than its control '
                "in this window and scope.</div>"
            )
        if rows:
            parts.append(
                charts.interval_chart(
                    f"Error rate above control, ranked by excess errors "
                    f"({1 - queries.alpha:.0%} interval)",
                    rows,
                    pp,
                    "same as control",
                )
            )
        parts.append("<h2>Suspects</h2>")
        parts.append(
            table(
                [
                    "rank",
                    "experiment = variant",
                    "requests",
                    "error rate (control)",
                    "difference",
                    "interval",
                    "excess errors",
                    "share of errors",
                    "p95 shift",
                ],
                [
                    [
                        str(i + 1),
                        f'<a href="/ui/experiments/{esc(_path(r["experiment"]))}?{esc(query)}">'
                        f"{esc(r['experiment'])} = {esc(r['variant'])}</a>",
                        esc(f"{r['requests']:,}"),
                        esc(f"{pct(r['error_rate'])} ({pct(r['control_error_rate'])})"),
                        esc(pp(r["error_rate"] - (r["control_error_rate"] or 0))),
                        esc(_interval(list(r["interval"]))),
                        esc(f"{r['excess_errors']:.1f}"),
                        esc(pct(r["error_share"], 1)),
                        esc(ms(r.get("p95_shift_ms"))),
                    ]
                    for i, r in enumerate(suspects)
                ],
                classes=["bad" if row.colour == charts.BAD else "" for row in rows],
                raw_columns=frozenset(range(9)),
            )
        )
        step = bucket_seconds(choice.window)
        points = series.incident(choice.window, step, service, route)
        totals: dict[tuple[str, str], int] = {}
        for p in points:
            key = (p["experiment"], p["variant"])
            totals[key] = totals.get(key, 0) + int(p["errors"])
        top_keys = sorted(totals, key=lambda k: -totals[k])[:7]
        suspect_keys = {(r["experiment"], r["variant"]) for r in suspects[:1]}
        palette = charts.colours([f"{e}={v}" for e, v in top_keys])
        lines = [
            Line(
                f"{e}={v}",
                [
                    (as_datetime(p["bucket"]), p["errors"], f"of {p['requests']} requests")
                    for p in points
                    if (p["experiment"], p["variant"]) == (e, v)
                ],
                charts.BAD
                if (e, v) in suspect_keys and rows[0].colour == charts.BAD
                else palette[f"{e}={v}"],
                3.5 if (e, v) in suspect_keys else 2.0,
            )
            for e, v in top_keys
        ]
        parts.append(
            LineChart(
                f"Failed requests per experiment = variant ({step} s buckets)",
                as_datetime(choice.window.start),
                as_datetime(choice.window.end),
                step,
                lambda v: f"{v:,.0f}",
                lines,
                _markers(result["registry_events"]),
            ).svg()
        )
        if others:
            parts.append("<h2>No excess errors</h2>")
            parts.append(
                table(
                    [
                        "experiment = variant",
                        "requests",
                        "error rate",
                        "control error rate",
                        "p95 shift",
                    ],
                    [
                        [
                            f"{r['experiment']} = {r['variant']}",
                            r["requests"],
                            pct(r["error_rate"]),
                            pct(r["control_error_rate"]),
                            ms(r.get("p95_shift_ms")),
                        ]
                        for r in others
                    ],
                )
            )
        parts.append("<h2>Registry changes in the window</h2>")
        parts.append(
            table(
                ["at (UTC)", "experiment", "action", "actor"],
                [
                    [str(e["at"])[:19], e["experiment_id"], e["action"], e["actor"]]
                    for e in result["registry_events"]
                ],
            )
        )
        return "Incident: which experiment did that?", "".join(parts)

    # -- coverage and propagation ----------------------------------------------------------------

    def coverage(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        step = bucket_seconds(choice.window)
        result = json_safe(queries.tagging_coverage(choice.window, step))
        threshold = result["threshold"]
        keys = [(r["service"], r["route"]) for r in result["routes"]]
        labels = [f"{s} {r}" for s, r in keys]
        palette = charts.colours(labels)
        low = {(r["service"], r["route"]) for r in result["below_threshold"]}
        lines = [
            Line(
                f"{s} {r}",
                [
                    (as_datetime(b["bucket"]), b["coverage"], f"({b['tagged']}/{b['requests']})")
                    for b in result["buckets"]
                    if (b["service"], b["route"]) == (s, r)
                ],
                palette[f"{s} {r}"],
                3.0 if (s, r) in low else 2.0,
            )
            for s, r in keys
        ]
        parts = [window_form("/ui/coverage", choice)]
        overall = result["coverage"]
        if result["below_threshold"]:
            names = ", ".join(f"{r['service']} {r['route']}" for r in result["below_threshold"])
            parts.append(
                f'<div class="banner warn">Below {pct(threshold, 0)} tagged: {esc(names)}</div>'
            )
        parts.append(
            f'<p class="facts"><b>Entry requests</b>: {result["requests"]:,} · <b>tagged</b>: '
            f"{result['tagged']:,} ({pct(overall)})</p>"
        )
        parts.append(
            LineChart(
                f"Share of entry requests tagged, per service and route ({step} s buckets)",
                as_datetime(choice.window.start),
                as_datetime(choice.window.end),
                step,
                lambda v: pct(v, 0),
                lines,
                threshold=threshold,
                threshold_label=f"{pct(threshold, 0)} target",
                y_max=1.0,
            ).svg()
        )
        parts.append(
            table(
                ["service", "route", "requests", "tagged", "coverage"],
                [
                    [r["service"], r["route"], r["requests"], r["tagged"], pct(r["coverage"])]
                    for r in result["routes"]
                ],
                classes=[
                    "bad" if (r["service"], r["route"]) in low else "" for r in result["routes"]
                ],
            )
        )
        attribution = json_safe(queries.attribution(choice.window))
        parts.append("<h2>Attribution: telemetry linked to a registered artifact</h2>")
        parts.append(
            table(
                ["signal", "items", "tagged", "linked to an artifact", "completeness"],
                [
                    [a["signal"], a["items"], a["tagged"], a["linked"], pct(a["completeness"])]
                    for a in attribution
                ],
            )
        )
        return "Tagging coverage", "".join(parts)

    def propagation(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        result = json_safe(queries.propagation_coverage(choice.window))
        losing = {(h["from_service"], h["service"]) for h in result["losing_hops"]}
        hops = sorted(
            result["hops"],
            key=lambda h: ((h["from_service"], h["service"]) not in losing, h["coverage"]),
        )
        parts = [window_form("/ui/propagation", choice)]
        for h in result["losing_hops"]:
            parts.append(
                f'<div class="banner bad"><b>The tag is lost between {esc(h["from_service"])} and '
                f"{esc(h['service'])}</b>: only {pct(h['coverage'], 1)} of {h['items']:,} spans "
                f"in {esc(h['service'])} still carry the experiment. Check that "
                f"{esc(h['from_service'])} propagates W3C baggage on its outgoing calls.</div>"
            )
        parts.append(
            charts.service_graph(
                "Services that tagged traces pass through (share of spans that keep the tag)",
                [
                    Hop(
                        h["from_service"],
                        h["service"],
                        h["coverage"],
                        h["items"],
                        (h["from_service"], h["service"]) in losing,
                    )
                    for h in result["hops"]
                ],
            )
        )
        parts.append(
            table(
                ["from", "to", "spans", "carrying the tag", "coverage"],
                [
                    [
                        h["from_service"] or "(entry)",
                        h["service"],
                        h["items"],
                        h["carrying"],
                        pct(h["coverage"], 1),
                    ]
                    for h in hops
                ],
                classes=[
                    "bad" if (h["from_service"], h["service"]) in losing else "" for h in hops
                ],
            )
        )
        parts.append("<h2>Logs in tagged traces</h2>")
        parts.append(
            table(
                ["service", "log records", "carrying the tag", "coverage"],
                [
                    [g["service"], g["items"], g["carrying"], pct(g["coverage"], 1)]
                    for g in result["logs"]
                ],
            )
        )
        return "Propagation", "".join(parts)

    # -- burn rates, lag, cardinality ------------------------------------------------------------

    def burn(request: Request) -> tuple[str, str]:
        rows = json_safe(queries.burn_rates(request.query_params.get("at") or None))
        parts = []
        paging = [r for r in rows if r["status"] != "ok"]
        for r in paging:
            parts.append(
                f'<div class="banner {"bad" if r["status"] == "page" else "warn"}">'
                f"<b>{esc(r['experiment'])} = {esc(r['variant'])}</b> burns its error budget: "
                f"{r['status'].upper()} (1 h burn rate {r['burn_rates']['1h']:.1f}x).</div>"
            )
        parts.append(
            '<p class="facts">Burn rate = error rate ÷ error budget (1 - availability SLO). '
            f"Page when the 1 h and 5 m rates both exceed {PAGE_BURN}x (or 6 h and 30 m exceed "
            "6x); ticket when 3 d and 6 h exceed 1x. "
            f"Computed at {esc(rows[0]['at'][:19] if rows else 'now')} UTC.</p>"
        )
        parts.append(
            charts.bar_chart(
                "1 h burn rate per experiment = variant",
                [
                    Bar(
                        f"{r['experiment']} = {r['variant']}",
                        r["burn_rates"]["1h"] or 0,
                        charts.BAD
                        if r["status"] == "page"
                        else ("#d97706" if r["status"] == "ticket" else charts.GOOD),
                        f"{r['burn_rates']['1h']:.1f}x ({r['requests']['1h']:,} requests)",
                    )
                    for r in rows
                ],
                mark=PAGE_BURN,
                mark_label=f"page at {PAGE_BURN}x",
            )
        )
        parts.append(
            table(
                ["experiment", "variant", "SLO", *BURN_WINDOWS, "status"],
                [
                    [esc(r["experiment"]), esc(r["variant"]), esc(pct(r["availability_target"], 2))]
                    + [esc(f"{r['burn_rates'][w]:.2f}x") for w in BURN_WINDOWS]
                    + [badge(r["status"], r["status"])]
                    for r in rows
                ],
                classes=["bad" if r["status"] == "page" else "" for r in rows],
                raw_columns=frozenset(range(9)),
            )
        )
        return "Error-budget burn rates", "".join(parts)

    def lag(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        rows = json_safe(queries.ingestion_lag(choice.window))
        bars = [
            Bar(
                f"{r['signal']} · {r['service']}",
                (r["lag_ms_p50_p99"] or [0, 0])[1] or 0,
                "#2563eb",
                f"p99 {ms(r['lag_ms_p50_p99'][1])}, p50 {ms(r['lag_ms_p50_p99'][0])}",
            )
            for r in rows
        ]
        body = window_form("/ui/lag", choice)
        body += (
            '<p class="facts">Time from the end of a span (or a log record) to its row in '
            "the store.</p>"
        )
        body += charts.bar_chart("Ingestion lag, p99 per signal and service", bars)
        body += table(
            ["signal", "service", "items", "p50", "p99", "max"],
            [
                [
                    r["signal"],
                    r["service"],
                    r["items"],
                    ms(r["lag_ms_p50_p99"][0]),
                    ms(r["lag_ms_p50_p99"][1]),
                    ms(r["lag_ms_max"]),
                ]
                for r in rows
            ],
        )
        return "Ingestion lag", body

    def cardinality(request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        rows = json_safe(queries.cardinality(choice.window))
        body = window_form("/ui/cardinality", choice)
        body += charts.bar_chart(
            "Experiment = variant cohorts per service",
            [
                Bar(
                    r["service"],
                    r["cohorts"],
                    "#7c3aed",
                    f"{r['cohorts']:,} cohorts, {r['experiments']:,} experiments",
                )
                for r in rows
            ],
        )
        body += table(
            ["service", "experiments", "cohorts", "variants", "span attribute keys"],
            [
                [r["service"], r["experiments"], r["cohorts"], r["variants"], r["attribute_keys"]]
                for r in rows
            ],
        )
        return "Cardinality", body

    return [
        Route("/ui", guarded(experiments), methods=["GET"]),
        Route("/ui/experiments/{id:path}", guarded(experiment), methods=["GET"]),
        Route("/ui/incident", guarded(incident), methods=["GET"]),
        Route("/ui/coverage", guarded(coverage), methods=["GET"]),
        Route("/ui/propagation", guarded(propagation), methods=["GET"]),
        Route("/ui/burn", guarded(burn), methods=["GET"]),
        Route("/ui/lag", guarded(lag), methods=["GET"]),
        Route("/ui/cardinality", guarded(cardinality), methods=["GET"]),
        Route("/ui/signin", signin_page, methods=["GET"]),
        Route("/ui/signin", signin_submit, methods=["POST"]),
        Route("/ui/signout", signout, methods=["POST"]),
        Route("/ui/static/{name}", asset, methods=["GET"]),
    ]


def _encode(params: dict[str, str]) -> str:
    return urllib.parse.urlencode(params)


def _path(experiment_id: str) -> str:
    """An experiment id as one URL path segment (hostile ids included)."""
    return urllib.parse.quote(experiment_id, safe="")


def _interval(pair: list | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "-"
    low, high = pair
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    return f"[{pp(low)}, {pp(high)}]"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3g}"
