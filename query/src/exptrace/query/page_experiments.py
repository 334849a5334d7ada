"""The experiment pages: the index (registered and seen-only experiments with their decisions)
and one experiment against its control, with series, interval bars and the registry record.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from exptrace.query import charts
from exptrace.query.api import Page, Queries, json_safe
from exptrace.query.charts import Interval, Line, LineChart, esc
from exptrace.query.html_parts import (
    RUN,
    NotFound,
    badge,
    choose_window,
    experiment_link,
    interval_text,
    markers,
    ms,
    overflow,
    p_text,
    page_of,
    path_segment,
    pct,
    pp,
    table,
    window_form,
)
from exptrace.query.registry import Experiment, Registry
from exptrace.query.series import Series, as_datetime, bucket_seconds

LEGACY_METHOD = (
    "error rate: two-proportion z-test (unpooled) with a Wald interval on the difference; "
    "latency: Mann-Whitney U on durations"
)
SLO_NAMES = {"latency_p95_ms": "p95 latency", "latency_p99_ms": "p99 latency"}


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


def _is_latency(name: str) -> bool:
    return "latency" in name or name.endswith("_ms")


def _metric_rows(comparison: dict[str, Any], colour: str, latency: bool = False) -> list[Interval]:
    """One comparison's interval rows for error rate (or, with ``latency``, for latency).

    Per-metric estimates when the report has them (``metrics`` as a list or a mapping);
    otherwise today's error-rate difference and its interval (latency has none there).
    """
    variant, verdict = comparison["variant"], str(comparison.get("verdict", ""))
    metrics = comparison.get("metrics")
    if isinstance(metrics, dict):
        metrics = [{"metric": k, **v} for k, v in metrics.items() if isinstance(v, dict)]
    rows = []
    for metric in metrics if isinstance(metrics, list) else []:
        name = str(metric.get("metric") or metric.get("name") or "")
        if _is_latency(name) != latency or (not latency and "error" not in name):
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
    if rows or latency:
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


def _mde(value: Any) -> str:
    """The minimum detectable effect: error-rate points when a number, else as given."""
    if value is None or isinstance(value, float):
        return pp(value)
    return _words(value)


def _words(value: Any) -> str:
    """A report field as plain words, whatever its shape (text, list or mapping)."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_words(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(v) for v in value)
    return str(value)


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
        )
        return "Experiments", body

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
                f"(p = {srm['p_value']:.2g}{esc(_unregistered(srm))}). Assignment or logging is "
                "broken; do not trust the comparisons until it is fixed.</div>"
            )
        if not comparisons:
            parts.extend(f'<div class="banner info">{esc(n)}</div>' for n in report["notes"])
        unit = _words(
            report.get("unit") or "request (a trace, counted once at its first entry span)"
        )
        method = _words(report.get("method") or LEGACY_METHOD)
        sizes = ", ".join(f"{c['variant']} {c['requests']:,}" for c in cohorts)
        parts.append(
            '<p class="facts">'
            f"<b>Unit</b>: {esc(unit)} · <b>Method</b>: {esc(method)} · "
            f"<b>alpha</b> = {report['alpha']:g} · <b>Sample sizes</b>: {esc(sizes)} · "
            f"<b>Control</b>: {esc(control)}</p>"
        )
        level = f"{1 - report['alpha']:.0%} interval"
        for latency, title, fmt in (
            (False, f"Error rate difference against {control} (percentage points, {level})", pp),
            (True, f"Latency difference against {control} ({level})", ms),
        ):
            rows = [
                row
                for c in comparisons
                for row in _metric_rows(c, charts.VERDICT_COLOURS[verdicts[c["variant"]]], latency)
            ]
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
        with_mde = any("mde" in c for c in comparisons)
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
                    *(
                        ["minimum detectable effect"]
                        if any("mde" in c for c in comparisons)
                        else []
                    ),
                ],
                [
                    [
                        esc(c["variant"]),
                        badge(verdicts[c["variant"]], verdicts[c["variant"]]),
                        esc(f"{c['requests']:,} vs {c['control_requests']:,}"),
                        esc(f"{pct(c['error_rate'])} vs {pct(c['control_error_rate'])}"),
                        esc(pp(c.get("error_rate_diff"))),
                        esc(interval_text(c.get("error_rate_diff_ci"))),
                        esc(p_text(c.get("error_p_value"))),
                        esc(
                            f"{ms(c.get('median_ms'))} vs {ms(c.get('control_median_ms'))}"
                            if "median_ms" in c
                            else "-"
                        ),
                        esc(p_text(c.get("latency_p_value"))),
                        esc(c.get("verdict", "")),
                        *([esc(_mde(c.get("mde")))] if with_mde else []),
                    ]
                    for c in comparisons
                ],
                classes=["bad" if verdicts[c["variant"]] == "fail" else "" for c in comparisons],
                raw_columns=frozenset(range(11)),
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


def _unregistered(srm: dict) -> str:
    """The variants the registry does not name, when they are why the split is flagged."""
    extra = srm.get("unregistered") or {}
    if not extra:
        return ""
    return "; traffic in variants the registry does not name: " + ", ".join(
        f"{v} {n:,}" for v, n in extra.items()
    )
