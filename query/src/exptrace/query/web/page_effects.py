"""The experiment page's result parts as a data scientist reads them: the unit and method in
words, one row per metric with its own verdict, absolute and relative effect with intervals
and the minimum detectable effect in the metric's units, the cumulative effect over the
experiment's run, and example failed requests with their logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from exptrace.query.core import as_datetime, bracket, pct, pp
from exptrace.query.web import charts
from exptrace.query.web.charts import Line, LineChart, esc
from exptrace.query.web.html_parts import (
    ms,
    p_text,
    table,
)

METRIC_NAMES = {
    "error_rate": "error rate",
    "latency_p50": "p50 latency",
    "latency_p95": "p95 latency",
    "latency_p99": "p99 latency",
}
EFFECT_TIPS = {
    "control value": "the control arm's value over the window",
    "variant value": "this variant's value over the window",
    "difference": "variant minus control, with its interval (the report's level, always "
    "valid unless the method says fixed-horizon)",
    "relative": "the difference as a share of control's value, with its interval where the "
    "report gives one",
    "adjusted p": "Holm-adjusted over every variant and metric of the report",
    "verdict": "this metric's own reading: significant after adjustment, within the margin "
    "(no difference that matters), or not clear yet",
    "minimum detectable effect": "the smallest difference this sample would detect with 80% "
    "power at the report's alpha, in the metric's units",
}
"""What each column of the effects table means, shown on hover."""


def metric_name(metric: str) -> str:
    """A report metric key as words (``latency_p95`` -> ``p95 latency``)."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def metric_format(metric: str) -> Callable[[float | None], str]:
    """The format of a metric's values (error rate: percent; latency: milliseconds)."""
    return pct if metric == "error_rate" else ms


def difference_format(metric: str) -> Callable[[float | None], str]:
    """The format of a difference in the metric's units (points or signed milliseconds)."""
    if metric == "error_rate":
        return pp
    return lambda v: "-" if v is None else f"{v:+,.1f} ms"


def metric_verdict(metric: dict[str, Any]) -> str:
    """This metric's own reading, never the variant's overall one."""
    latency = metric["metric"] != "error_rate"
    if metric.get("p_value") is None:
        return f"not compared: {metric.get('note') or 'undefined'}"
    if metric.get("significant") and metric.get("direction") == "worse":
        return "slower" if latency else "more errors"
    if metric.get("significant") and metric.get("direction") == "better":
        return "faster" if latency else "fewer errors"
    if metric.get("within_margin"):
        return "no difference beyond the margin"
    return "no clear difference yet"


def verdict_kind(metric: dict[str, Any]) -> str:
    """fail / pass / inconclusive for one metric, for its colour."""
    if metric.get("guardrail_crossed"):
        return "fail"
    if metric.get("significant") and metric.get("direction") == "better":
        return "pass"
    return "pass" if metric.get("within_margin") else "inconclusive"


def method_words(report: dict[str, Any]) -> tuple[str, str]:
    """The method in a few words, and its full description for a tooltip."""
    method = report["method"]
    name = method["name"]
    fractions = [t for t in method.get("information_fraction", {}).values() if t is not None]
    if name != "always-valid":
        words = "fixed horizon (valid for one look at a pre-registered end)"
    elif method.get("boundary") == "obrien-fleming+mixture":
        seen = f", {max(fractions):.0%} of the way" if fractions else ""
        words = (
            f"always valid (O'Brien-Fleming to the planned {method['expected_units']:,.0f} "
            f"units{seen}, with a confidence sequence)"
        )
    else:
        words = (
            f"always valid (confidence sequences, tightest near {method['tuning_units']:,} units)"
        )
    words += f", {method['multiplicity'].capitalize()}-adjusted across variants and metrics"
    detail = f"error rate: {method['error_rate']}. latency: {method['latency']}."
    data = report.get("data") or {}
    if data.get("source") == "unit groups":
        detail += (
            f" Read from unit groups from {data['read_from']} ({data['groups']} groups of units "
            f"per arm; latency within {data['latency_relative_error']:.0%}); "
            "exptrace report --exact reads every request fact."
        )
    elif data:
        detail += " Read exactly, from every request fact."
    return words, detail


def _relative_interval(comparison: dict[str, Any], metric: dict[str, Any]) -> Any:
    given = metric.get("relative_interval") or metric.get("relative_ci")
    if given is None and metric["metric"] == "error_rate":
        given = comparison.get("error_rate_relative_ci")
    return given


def _signed_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _bracket(pair: Any, fmt: Callable[[float], str]) -> str:
    text = bracket(pair, fmt)
    return f" {text}" if text else ""


def _mde(metric: dict[str, Any]) -> str:
    value = metric.get("mde")
    if value is None:
        return "-"
    return (
        f"±{abs(value) * 100:.2f} pp" if metric["metric"] == "error_rate" else f"±{value:,.1f} ms"
    )


def effects_table(report: dict[str, Any]) -> str:
    """One row per treatment and metric: values, absolute and relative effect with intervals,
    adjusted p, this metric's verdict and its minimum detectable effect."""
    rows, classes = [], []
    for c in report["comparisons"]:
        if not c["metrics"]:
            rows.append([esc(c["variant"]), "-", "", "", "", "", "", esc(c["verdict"]), ""])
            classes.append("")
            continue
        for m in c["metrics"]:
            value, diff = metric_format(m["metric"]), difference_format(m["metric"])
            kind = verdict_kind(m)
            rows.append(
                [
                    esc(c["variant"]),
                    esc(metric_name(m["metric"])),
                    esc(value(m["control"])),
                    esc(value(m["treatment"])),
                    esc(diff(m["estimate"]) + _bracket(m["interval"], diff)),
                    esc(
                        _signed_pct(m["relative"]) + _bracket(_relative_interval(c, m), _signed_pct)
                    ),
                    esc(p_text(m["adjusted_p_value"])),
                    f'<span class="badge {kind}">{esc(metric_verdict(m))}</span>',
                    esc(_mde(m)),
                ]
            )
            classes.append("bad" if kind == "fail" else "")
    return table(
        [
            "variant",
            "metric",
            "control value",
            "variant value",
            "difference",
            "relative",
            "adjusted p",
            "verdict",
            "minimum detectable effect",
        ],
        rows,
        classes=classes,
        raw_columns=frozenset(range(9)),
        tips=EFFECT_TIPS,
    )


def cumulative_chart(
    points: list[dict[str, Any]],
    control: str,
    colour: dict[str, str],
    start: dt.datetime,
    end: dt.datetime,
    step: int,
    span: str,
) -> str:
    """Each treatment's error rate minus control's, over all requests from the start of
    ``span`` (the run, or the page's window) up to each bucket's end: how the estimate settled
    as data came in."""
    totals: dict[str, list[int]] = {}
    cumulative: dict[str, list[tuple[dt.datetime, float, str]]] = {}
    for bucket in sorted({as_datetime(p["bucket"]) for p in points}):
        for p in points:
            if as_datetime(p["bucket"]) == bucket:
                t = totals.setdefault(p["variant"], [0, 0])
                t[0] += int(p["requests"])
                t[1] += int(p["errors"])
        base = totals.get(control)
        if not base or not base[0]:
            continue
        for variant, (n, k) in totals.items():
            if variant != control and n:
                diff = k / n - base[1] / base[0]
                note = f"({k:,}/{n:,} against {base[1]:,}/{base[0]:,} so far)"
                cumulative.setdefault(variant, []).append((bucket, diff, note))
    lines = [Line(v, pts, colour.get(v, charts.NEUTRAL)) for v, pts in sorted(cumulative.items())]
    extent = charts.nice_max(max([abs(v) for pts in cumulative.values() for _, v, _ in pts] + [0]))
    return LineChart(
        f"Cumulative error rate difference against {control} over {span} ({step} s buckets)",
        start,
        end,
        step,
        lambda v: f"{v * 100:+.3g} pp",  # short enough for the axis
        lines,
        threshold=0.0,
        threshold_label="no difference",
        y_min=-extent,
        y_max=extent,
    ).svg()


def examples(variant: str, rows: list[dict[str, Any]]) -> str:
    """The latest failed requests of a failing variant: trace ids and their log records."""
    body = table(
        ["trace id", "started (UTC)", "service", "route", "duration", "log records (errors first)"],
        [
            [
                f"<code>{esc(r['trace_id'])}</code>",
                esc(str(r["at"])[:19]),
                esc(r["service"]),
                esc(r["route"]),
                esc(ms(r["duration_ms"])),
                "<br>".join(
                    f"{esc(str(log['at'])[11:19])} {esc(log['severity'] or '-')}: "
                    f"{esc(log['body'])}"
                    for log in r["logs"]
                )
                or "none in the store",
            ]
            for r in rows
        ],
        raw_columns=frozenset(range(6)),
    )
    return (
        f'<h2 id="failed-{esc(variant)}">Failed requests of {esc(variant)}, the latest first</h2>'
        '<p class="facts">Open a trace id in your trace viewer (Grafana\'s ClickHouse data '
        "source, Jaeger), or look it up by <code>TraceId</code> in <code>otel_traces</code> "
        "and <code>otel_logs</code>.</p>" + body
    )
