"""The operations pages: incident attribution, tagging coverage, propagation, burn rates,
ingestion lag and cardinality.
"""

from __future__ import annotations

from starlette.requests import Request

from exptrace.query.core import (
    ATTRIBUTION_NOTE,
    LAG_TARGET_MS,
    MAX_LIMIT,
    NO_PIPELINE,
    Queries,
    Rows,
    Series,
    as_datetime,
    bucket_seconds,
    burn,
    counted,
    interval_text,
    json_safe,
    pct,
    pp,
    unweighed,
)
from exptrace.query.web import charts
from exptrace.query.web.charts import Bar, Hop, Interval, Line, LineChart, esc
from exptrace.query.web.html_parts import (
    badge,
    choose_window,
    experiment_link,
    markers,
    ms,
    overflow,
    p_text,
    page_of,
    table,
    window_form,
)

PAGE_BURN = burn.RULES[0].factor
PAGE_WINDOW = burn.RULES[0].long
"""The first paging rule's long window: the burn chart shows each arm's excess over it."""
LINES = 7
"""Experiment = variant lines on the incident chart: those with the most failed requests."""
INCIDENT_TIPS = {
    "error rate (control)": "failed requests / requests in scope for this variant (its control's)",
    "difference": "error rate minus its control's, in percentage points",
    "interval": "interval on the difference, the same construction and level as the report's",
    "excess errors": "failed requests beyond what the control's error rate predicts",
    "share of errors": "excess errors / failed requests in scope (tagged or not); arms of one "
    "experiment never add past 100%",
    "p95 shift": "p95 latency minus its control's",
    "adjusted p": "Holm-adjusted over every arm tested; suspect below alpha",
    "rank": "place in the whole ranking: suspects first, then by evidence, then by excess errors",
    "why no p-value": "what kept the arm out of the test: too few units, no error to weigh, "
    "or no request from its control",
}
"""What each incident column means, shown on hover."""
COVERAGE_TIPS = {
    "requests": "entry spans (server or consumer) of the service on the route",
    "tagged": "of them, those carrying at least one experiment",
}
HOP_TIPS = {
    "spans": "spans of the 'to' service in tagged traces, called from 'from'",
    "carrying the tag": "of them, those that still carry the trace's experiment",
}
LAG_TARGET_S = LAG_TARGET_MS // 1000
LAG_COUNTS = {
    f"pipeline over {LAG_TARGET_S} s": "pipeline samples above the receiver's target; "
    "arrival has no target",
    "future-dated": "arrival: items dated after they were stored, kept out of the percentiles",
}
"""The lag table's two counts, each for one measure, with what they count."""


class OperationsPages:
    """Builds the bodies of the incident, coverage, propagation, burn, lag and cardinality pages."""

    def __init__(self, queries: Queries, series: Series) -> None:
        self.queries, self.series = queries, series

    def incident(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        service = request.query_params.get("service", "").strip()
        route = request.query_params.get("route", "").strip()
        page = page_of(request)
        result = json_safe(
            self.queries.incident(
                choice.window, service, route, limit=page.limit, offset=page.offset
            )
        )
        suspects = result["suspects"]  # on any page: they rank first
        others = [r for r in result["ranked"] if not r["suspect"]]
        rows = [
            Interval(
                f"{r['experiment']} = {r['variant']}",
                r["error_rate"] - (r["control_error_rate"] or 0),
                *(r["error_rate_diff_ci"] or (None, None)),
                charts.BAD,
                f"{r['excess_errors']:.0f} excess errors",
            )
            for r in suspects
        ]
        parts = [window_form("/ui/incident", choice, {"service": service, "route": route})]
        ranked = Rows(result["ranked"], result["overflow"]["ranked"]["total"], page)
        parts.append(
            overflow(ranked, "experiment = variant arms, strongest evidence first", request)
        )
        scope = result["scope"]
        not_weighed = (
            f" {unweighed(result['without_control'])} (ranked last)."
            if result["without_control"]
            else ""
        )
        if scope["empty"]:
            parts.append(f'<div class="banner warn"><b>No verdict</b>: {esc(scope["empty"])}</div>')
        elif suspects:
            top = suspects[0]
            parts.append(
                f'<div class="banner bad"><b>Top suspect: {esc(top["experiment"])} = '
                f"{esc(top['variant'])}</b> — {top['excess_errors']:.0f} errors more than its "
                f"control would have had ({pct(top['error_rate'])} against "
                f"{pct(top['control_error_rate'])}), {pct(top['excess_share'], 0)} of the "
                f"{scope['errors']:,} failed requests in scope.</div>"
            )
        else:
            parts.append(
                '<div class="banner good">No experiment variant has significantly more errors '
                f"than its control among the {scope['requests']:,} requests in this window and "
                f"scope.{esc(not_weighed)}</div>"
            )
        parts.append(
            f'<p class="facts"><b>In scope</b>: {scope["requests"]:,} requests, '
            f"{scope['errors']:,} failed ({esc(_scope_words(service, route))}, tagged or not). "
            "A suspect is a variant whose excess over its control is significant after Holm's "
            f"correction over all {counted(result['method']['suspects'], 'arm')} tested. The "
            "intervals are fixed-horizon, for this one window; the experiment's report over its "
            f"whole run uses always-valid ones, which are wider.{esc(not_weighed)}</p>"
        )
        if rows:
            parts.append(
                charts.interval_chart(
                    f"Error rate above control, suspects "
                    f"({1 - self.queries.engine.alpha:.0%} fixed-horizon interval, this window)",
                    rows,
                    pp,
                    "same as control",
                )
            )
        parts.append("<h2>Suspects</h2>")
        parts.append(f'<p class="facts">{esc(_method_line(result["method"]))}</p>')
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
                    "adjusted p",
                ],
                [
                    [
                        str(r["rank"]),
                        experiment_link(
                            r["experiment"], choice, f"{r['experiment']} = {r['variant']}"
                        ),
                        esc(f"{r['requests']:,}"),
                        esc(f"{pct(r['error_rate'])} ({pct(r['control_error_rate'])})"),
                        esc(pp(r["error_rate"] - (r["control_error_rate"] or 0))),
                        esc(interval_text(r["error_rate_diff_ci"])),
                        esc(f"{r['excess_errors']:.1f}"),
                        esc(pct(r["excess_share"], 1)),
                        esc(ms(r.get("p95_shift_ms"))),
                        esc(p_text(r["adjusted_p_value"])),
                    ]
                    for r in suspects
                ],
                classes=["bad"] * len(suspects),
                raw_columns=frozenset(range(10)),
                tips=INCIDENT_TIPS,
            )
        )
        step = bucket_seconds(choice.window)
        points = self.series.incident(choice.window, step, service, route, top=LINES)
        totals: dict[tuple[str, str], int] = {}
        for p in points:
            key = (p["experiment"], p["variant"])
            totals[key] = totals.get(key, 0) + int(p["errors"])
        top_keys = sorted(totals, key=lambda k: -totals[k])[:LINES]
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
                charts.BAD if (e, v) in suspect_keys else palette[f"{e}={v}"],
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
                lambda v: f"{v:,.0f}" if v == int(v) else f"{v:,.1f}",
                lines,
                markers(result["registry_events"]),
            ).svg()
        )
        if others:
            parts.append("<h2>Not suspects (no significant excess), by evidence</h2>")
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
                        "p95 shift",
                        "adjusted p",
                        "why no p-value",
                    ],
                    [
                        [
                            str(r["rank"]),
                            f"{r['experiment']} = {r['variant']}",
                            r["requests"],
                            f"{pct(r['error_rate'])} ({pct(r['control_error_rate'])})",
                            "-"
                            if r["control_error_rate"] is None
                            else pp(r["error_rate"] - r["control_error_rate"]),
                            interval_text(r["error_rate_diff_ci"]),
                            "-" if r["excess_errors"] is None else f"{r['excess_errors']:.1f}",
                            ms(r.get("p95_shift_ms")),
                            p_text(r["adjusted_p_value"]),
                            r["note"] or "",
                        ]
                        for r in others
                    ],
                    tips=INCIDENT_TIPS,
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

    def coverage(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        step = bucket_seconds(choice.window)
        result = json_safe(self.queries.tagging_coverage(choice.window, step))
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
                tips=COVERAGE_TIPS,
            )
        )
        attribution = json_safe(self.queries.attribution(choice.window))
        parts.append("<h2>Attribution: telemetry linked to a registered artifact</h2>")
        parts.append(f'<p class="facts">{esc(ATTRIBUTION_NOTE)}</p>')
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

    def propagation(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        result = json_safe(self.queries.propagation_coverage(choice.window))
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
                tips=HOP_TIPS,
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

    def burn(self, request: Request) -> tuple[str, str]:
        page = page_of(request)
        rows = json_safe(
            self.queries.burn_rates(
                request.query_params.get("at") or None, limit=page.limit, offset=page.offset
            )
        )
        parts = [overflow(rows, "experiment = variant rows, the most burning first", request)]
        paging = [r for r in rows if r["status"] in ("page", "ticket")]
        for r in paging:
            parts.append(
                f'<div class="banner {"bad" if r["status"] == "page" else "warn"}">'
                f"<b>{esc(r['experiment'])} = {esc(r['variant'])}</b> burns its error budget: "
                f"{r['status'].upper()} ({esc(r['reason'])}).</div>"
            )
        parts.append(
            "<p class=\"facts\">Experiment-caused burn = (variant's error rate - control's) ÷ "
            "error budget (1 - availability SLO): errors every arm shares are the service's own, "
            "and control never pages. "
            + "; ".join(esc(rule.describe()) for rule in burn.RULES)
            + " (the short window fully covered by data, the long one significant). "
            "A window with less data than its length says how many minutes it has. "
            f"Computed at {esc(rows[0]['at'][:19] if rows else 'now')} UTC.</p>"
        )
        parts.append(
            charts.bar_chart(
                "1 h excess burn rate per experiment = variant",
                [
                    Bar(
                        f"{r['experiment']} = {r['variant']}",
                        r["excess_burn_rates"][PAGE_WINDOW] or 0,
                        BURN_COLOURS.get(burn.burn_status(r), charts.GOOD),
                        f"{r['excess_burn_rates'][PAGE_WINDOW] or 0:.1f}x "
                        f"({r['requests'][PAGE_WINDOW]:,} requests)",
                    )
                    for r in rows
                ],
                mark=PAGE_BURN,
                mark_label=f"page at {PAGE_BURN}x",
                axis=lambda v: f"{v:g}x",
            )
        )
        parts.append(
            table(
                ["experiment", "variant", "SLO", *burn.WINDOWS, "status"],
                [
                    [esc(r["experiment"]), esc(r["variant"]), esc(pct(r["availability_target"], 2))]
                    + [_excess(r, w) for w in burn.WINDOWS]
                    + [_burn_badge(r)]
                    for r in rows
                ],
                classes=["bad" if r["status"] == "page" else "" for r in rows],
                raw_columns=frozenset(range(9)),
                tips={
                    "SLO": "the availability target (registered, else 99.9%)",
                    **{
                        w: f"excess error rate over control's in the last {w}, divided by "
                        "the error budget (1 - SLO): 1x spends the budget exactly over 30 days"
                        for w in burn.WINDOWS
                    },
                },
            )
        )
        return "Error-budget burn rates", "".join(parts)

    def lag(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        rows = json_safe(self.queries.ingestion_lag(choice.window))
        bars = [
            Bar(
                f"{r['measure']} · {r['signal'] or 'all'} · {r['service']}",
                r["p99_ms"] or 0,
                "#dc2626" if r["measure"] == "pipeline" and r["over_target"] else "#2563eb",
                f"p99 {ms(r['p99_ms'])}, p50 {ms(r['p50_ms'])}",
            )
            for r in rows
        ]
        body = window_form("/ui/lag", choice)
        body += (
            '<p class="facts"><b>pipeline</b>: from acknowledging an export to its rows being '
            f"queryable, the receiver's own lag (target under {LAG_TARGET_S} s). <b>arrival</b>: "
            "from the end of a span or log record to its row in the store, how late telemetry "
            "comes from its sources (no target: a batching SDK or a replayed log adds to it); "
            "items dated in the future are counted apart.</p>"
        )
        if not any(r["measure"] == "pipeline" for r in rows):
            body += f'<div class="banner info">{esc(NO_PIPELINE)}</div>'
        body += charts.bar_chart(
            "Ingestion lag, p99 per measure, signal and service", bars, axis=ms
        )
        body += table(
            ["measure", "signal", "service", "items", "p50", "p99", "max", *LAG_COUNTS],
            [
                [
                    r["measure"],
                    r["signal"] or "-",
                    r["service"],
                    r["items"],
                    ms(r["p50_ms"]),
                    ms(r["p99_ms"]),
                    ms(r["max_ms"]),
                    r["over_target"] if r["measure"] == "pipeline" else "-",
                    r["future_dated"] if r["measure"] == "arrival" else "-",
                ]
                for r in rows
            ],
            tips=LAG_COUNTS,
        )
        return "Ingestion lag", body

    def cardinality(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        page = page_of(request)
        rows = json_safe(
            self.queries.cardinality(choice.window, limit=page.limit, offset=page.offset)
        )
        body = window_form("/ui/cardinality", choice)
        body += overflow(rows, "services, the most cohorts first", request)
        keys = rows[0]["attribute_keys"] if rows else 0
        body += (
            f'<p class="facts"><b>Services</b>: {rows.total:,} with tagged spans, at most '
            f"{page.limit:,} per page (<code>limit</code>, at most {MAX_LIMIT:,}). A cohort is "
            "one experiment = variant pair seen on a service's spans. <b>Span attribute "
            f"keys</b>: {keys:,} distinct keys on all spans in the window, every service "
            "together.</p>"
        )
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
            axis=lambda v: f"{v:,.0f}",
        )
        body += table(
            ["service", "experiments", "cohorts", "variants"],
            [[r["service"], r["experiments"], r["cohorts"], r["variants"]] for r in rows],
            tips={"variants": "distinct variant names on the service's spans, all experiments"},
        )
        return "Cardinality", body


def _method_line(method: dict) -> str:
    """How the incident's arms were tested, in one sentence."""
    return (
        f"Tested {counted(method['suspects'], 'arm')} against their controls with a "
        f"{method['name']} test over this window, Holm-adjusted ({method['why']})."
    )


def _scope_words(service: str, route: str) -> str:
    """What the incident's requests are, in words."""
    if service:
        return f"entry spans of service {service}" + (f" on route {route}" if route else "")
    return f"trace roots on route {route}" if route else "trace roots"


BURN_COLOURS = {"page": charts.BAD, "ticket": "#d97706", burn.NOT_JUDGED: charts.NEUTRAL}
"""A burn bar's colour by the status people read (:func:`burn.burn_status`); else good."""


def _burn_badge(row: dict) -> str:
    """The status badge; an arm no burn window could judge in grey, with why."""
    shown = burn.burn_status(row)
    if shown != burn.NOT_JUDGED:
        return badge(shown, shown)
    return badge(shown) + f' <span class="muted">{esc(row["reason"])}</span>'


def _excess(row: dict, window: str) -> str:
    """One window's excess burn, saying how much data it holds when less than its length."""
    value = row["excess_burn_rates"][window]
    text = "-" if value is None else f"{value:.2f}x"
    if not row["covered"][window]:
        text += f" ({row['data_seconds'] / 60:.0f} min of data)"
    return esc(text)
