"""The experiment pages: the index (registered and seen-only experiments with their decisions)
and one experiment against its control, with series, interval bars and the registry record.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from exptrace.query.core import (
    Experiment,
    Page,
    Queries,
    Registry,
    Series,
    Window,
    as_datetime,
    bucket_seconds,
    json_safe,
    pct,
    pp,
    words,
)
from exptrace.query.errors import NotFound
from exptrace.query.web import charts, page_effects
from exptrace.query.web.charts import Interval, Line, LineChart, esc
from exptrace.query.web.html_parts import (
    RUN,
    Choice,
    badge,
    choose_window,
    experiment_link,
    markers,
    ms,
    overflow,
    page_of,
    path_segment,
    table,
    window_form,
)

ENTRY_SPANS_TIP = (
    "server and consumer spans carrying the experiment, of every service: a request through "
    "two tagged services counts twice, so this is more than the report's requests (one per "
    "trace, its root's outcome)"
)
SLO_NAMES = {"latency_p95_ms": "p95 latency", "latency_p99_ms": "p99 latency"}


def decision(comparison: dict[str, Any]) -> str:
    """fail / pass / inconclusive: the report's structured decision for one treatment."""
    return comparison["decision"]


def _metric_rows(comparison: dict[str, Any], latency: bool) -> list[Interval]:
    """One treatment's interval rows for error rate (or, with ``latency``, the latency
    quantiles), each coloured and labelled by that metric's own verdict."""
    return [
        Interval(
            f"{comparison['variant']} · {page_effects.metric_name(m['metric'])}",
            m["estimate"],
            *(m["interval"] or (None, None)),
            charts.VERDICT_COLOURS[page_effects.verdict_kind(m)],
            page_effects.metric_verdict(m),
        )
        for m in comparison["metrics"]
        if (m["metric"] != "error_rate") == latency
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
        ("unit attribute", experiment.unit),
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


class ExperimentPages:
    """Builds the bodies of ``/ui`` and ``/ui/experiments/{id}``."""

    def __init__(self, queries: Queries, registry: Registry, series: Series) -> None:
        self.queries, self.registry, self.series = queries, registry, series

    def index(self, request: Request) -> tuple[str, str]:
        choice = choose_window(request)
        page = page_of(request)
        q = request.query_params
        unregistered_page = Page.parse(q.get("limit"), q.get("seen_offset"))
        registered = page.cut(self.registry.list())
        ids = [e.id for e in registered]
        seen_rows = self.queries.seen_experiments(choice.window, only=ids) if ids else []
        seen = {row["experiment"]: row for row in seen_rows}
        unregistered = self.queries.seen_experiments(
            choice.window,
            unregistered=True,
            limit=unregistered_page.limit,
            offset=unregistered_page.offset,
        )
        link = lambda e: experiment_link(e, choice)  # noqa: E731

        def health(experiment_id: str) -> str:
            """Each treatment's decision against control, and the SRM check, as badges."""
            if experiment_id not in seen:
                return esc("no traffic")
            report = json_safe(self.queries.report(experiment_id))  # over its whole run
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
        body += overflow(registered, "registered experiments", request)
        body += table(
            [
                "experiment",
                "name",
                "status",
                "owner",
                "variants (weights)",
                "against control (whole run)",
                "tagged entry spans",
            ],
            rows,
            classes=["bad" if 'class="badge fail"' in r[5] else "" for r in rows],
            raw_columns=frozenset(range(7)),
            tips={"tagged entry spans": ENTRY_SPANS_TIP},
        )
        body += "<h2>Seen in telemetry, not registered</h2>"
        body += overflow(unregistered, "experiments seen only in telemetry", request, "seen_offset")
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
            tips={"tagged entry spans": ENTRY_SPANS_TIP},
        )
        return "Experiments", body

    def _cumulative(
        self,
        experiment_id: str,
        found: Experiment | None,
        choice: Choice,
        control: str,
        colour: dict[str, str],
    ) -> str:
        """The cumulative error-rate difference of each treatment over the experiment's run."""
        window, span = _run_window(found, choice)
        step = bucket_seconds(window)
        points = self.series.experiment(experiment_id, window, step)
        start, end = as_datetime(window.start), as_datetime(window.end)
        return page_effects.cumulative_chart(points, control, colour, start, end, step, span)

    def experiment(self, request: Request) -> tuple[str, str]:
        experiment_id = request.path_params["id"]
        choice = choose_window(request, run=self.queries.run_window(experiment_id))
        path = f"/ui/experiments/{path_segment(experiment_id)}"
        found = self.registry.find(experiment_id)
        asked = None if choice.last == RUN else choice.window  # None: the whole run
        report = json_safe(self.queries.report(experiment_id, asked))
        if found is None and not report["cohorts"]:
            raise NotFound(
                f"Experiment {experiment_id}",
                window_form(path, choice, run=True)
                + '<div class="banner info">This experiment is not in the registry and no request '
                "in this window carries it. Try a longer window.</div>",
            )
        control = report["control"]
        cohorts = report["cohorts"]
        comparisons = report["comparisons"]
        verdicts = {c["variant"]: decision(c) for c in comparisons}
        colour = charts.colours([c["variant"] for c in cohorts], control)
        colour.update({v: charts.BAD for v, d in verdicts.items() if d == "fail"})
        parts = [
            window_form(path, choice, run=True),
            f'<div class="banner {"info" if asked is None else "warn"}">Window: '
            f"{esc(report['window']['means'])}</div>",
        ]
        if found is None:
            parts.append(
                '<div class="banner warn">Not in the registry: seen in telemetry only. Control is '
                f"assumed to be variant {esc(control)!s}; register it to record weights, "
                "artifacts and SLOs.</div>"
            )
        failing = [c["variant"] for c in comparisons if verdicts[c["variant"]] == "fail"]
        for c in comparisons:
            if verdicts[c["variant"]] == "fail":
                parts.append(
                    f'<div class="banner bad"><b>Variant {esc(c["variant"])} is worse than '
                    f"{esc(control)}</b>: {esc(c['verdict'])} — error rate "
                    f"{pct(c['error_rate'])} against {pct(c['control_error_rate'])}. "
                    f'<a href="#failed-{esc(c["variant"])}">Example failed requests and their '
                    "logs</a></div>"
                )
        srm = report.get("sample_ratio")
        if srm and srm.get("mismatch"):
            observed = ", ".join(f"{v} {n:,}" for v, n in srm["observed"].items())
            expected = ", ".join(f"{v} {pct(s, 1)}" for v, s in srm["expected_share"].items())
            parts.append(
                '<div class="banner bad"><b>Sample ratio mismatch</b>: observed '
                f"{esc(observed)} against expected shares {esc(expected)} "
                f"(p = {srm['p_value']:.2g}{esc(_unregistered(srm))}). Assignment or logging is "
                "broken; do not trust the comparisons until it is fixed.</div>"
            )
        unit_facts = report.get("unit") or {}
        if unit_facts.get("low_coverage"):
            parts.append(
                '<div class="banner bad"><b>Low unit coverage</b>: '
                f"{pct(unit_facts['coverage'], 1)} of requests carry "
                f"{esc(unit_facts['attribute'])}; "
                + (
                    "the others are left out of the analysis.</div>"
                    if unit_facts["analysis"] == "units"
                    else "requests are analysed as if independent.</div>"
                )
            )
        if report["empty"]:
            parts.append(
                f'<div class="banner warn"><b>No verdict</b>: {esc(report["empty"])}</div>'
            )
        elif not comparisons:
            parts.extend(f'<div class="banner info">{esc(n)}</div>' for n in report["notes"])
        method, method_detail = page_effects.method_words(report)
        sizes = (
            ", ".join(
                f"{c['variant']} {c['requests']:,} requests ({c['units']:,} units)" for c in cohorts
            )
            or "none: no request in this window"
        )
        parts.append(
            '<p class="facts">'
            f"<b>Unit</b>: {esc(words.unit_words(report['unit']))} · <b>Method</b>: "
            f'<abbr title="{esc(method_detail)}">{esc(method)}</abbr> · '
            f"<b>alpha</b> = {report['alpha']:g} · <b>Sample sizes</b>: {esc(sizes)} · "
            f"<b>Control</b>: {esc(control)}</p>"
        )
        level = f"{1 - report['alpha']:.0%} interval"
        for latency, title, fmt in (
            (False, f"Error rate difference against {control} (percentage points, {level})", pp),
            (True, f"Latency difference against {control} ({level})", ms),
        ):
            rows = [row for c in comparisons for row in _metric_rows(c, latency)]
            if rows:
                parts.append(charts.interval_chart(title, rows, fmt, "no difference"))
        step = bucket_seconds(choice.window)
        points = self.series.experiment(experiment_id, choice.window, step)
        history = self.registry.history(experiment_id) if found else []
        annotations = markers([{**h, "experiment_id": ""} for h in history])
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
                annotations,
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
                annotations,
                threshold=latency_slo,
                threshold_label=f"SLO p95 ≤ {latency_slo:g} ms" if latency_slo else "",
            ).svg()
        )
        parts.append("<h2>Comparisons with control</h2>")
        parts.append(
            table(
                ["variant", "decision", "units", "requests", "verdict"],
                [
                    [
                        esc(c["variant"]),
                        badge(verdicts[c["variant"]], verdicts[c["variant"]]),
                        esc(f"{c['units']:,} vs {c['control_units']:,}"),
                        esc(f"{c['requests']:,} vs {c['control_requests']:,}"),
                        esc(c["verdict"]),
                    ]
                    for c in comparisons
                ],
                classes=["bad" if verdicts[c["variant"]] == "fail" else "" for c in comparisons],
                raw_columns=frozenset(range(5)),
                tips={
                    "decision": "fail when a metric is significantly worse; pass when every "
                    "metric stays within its margin; inconclusive otherwise"
                },
            )
        )
        if any(c["metrics"] for c in comparisons):
            parts.append("<h3>Per metric</h3>" + page_effects.effects_table(report))
        parts.append(self._cumulative(experiment_id, found, choice, control, colour))
        for variant in failing:
            examples = self.queries.failed_examples(experiment_id, variant, choice.window)
            parts.append(page_effects.examples(variant, json_safe(examples)))
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


def _run_window(found: Experiment | None, choice: Choice) -> tuple[Window, str]:
    """The experiment's run (start to end, or to now while running), else the page's window."""
    if found is None or not found.start_time:
        return choice.window, "this window (the experiment has not been started)"
    started = as_datetime(found.start_time)
    ended = as_datetime(found.end_time) if found.end_time else as_datetime(choice.window.end)
    if ended <= started:
        return choice.window, "this window"
    return Window.parse(started, ended), "the run"


def _unregistered(srm: dict) -> str:
    """The variants the registry does not name, when they are why the split is flagged."""
    extra = srm.get("unregistered") or {}
    if not extra:
        return ""
    return "; traffic in variants the registry does not name: " + ", ".join(
        f"{v} {n:,}" for v, n in extra.items()
    )
