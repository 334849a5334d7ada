"""Readable text tables for the CLI and the demo."""

from __future__ import annotations

import json
from typing import Any

from exptrace.query.core import (
    ATTRIBUTION_NOTE,
    NO_PIPELINE,
    WINDOWS,
    bracket,
    burn_status,
    counted,
    interval_text,
    pct,
    signed_pct,
    unit_words,
    unweighed,
)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def interval(pair: list[float | None] | None) -> str:
    return bracket(pair, signed_pct) or "-"


def _window(data: dict[str, Any]) -> str:
    return f"{data['window']['start'][:19]} to {data['window']['end'][:19]} UTC"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _raw_and_adjusted(comparison: dict[str, Any], test: str) -> str:
    """A test's raw p-value and its Holm-adjusted one (the decision follows the adjusted)."""
    raw, adjusted = comparison.get(f"{test}_p_value"), comparison.get(f"{test}_p_value_adjusted")
    return f"{p_value(raw)} / {p_value(adjusted)}"


def _data(data: dict[str, Any]) -> str:
    """Where the report's numbers were read from, in one line."""
    if data["source"] == "exact":
        return "Read: exact (per-unit sums, exact quantiles over every request)"
    rolled = data.get("rolled")
    parts = [f"rolled {rolled[0]} to {rolled[1]}"] if rolled else []
    parts.append(f"request facts from {data['from_request_facts'][0][:19]}")
    return (
        f"Read: unit groups from {data['read_from']} ({', '.join(parts)}); latency within "
        f"{data['latency_relative_error']:.0%}; --exact for exact quantiles"
    )


def report(data: dict[str, Any]) -> str:
    """Arms, then each treatment against control; keys a report lacks are left out."""
    lines = [
        f"Experiment {data['experiment']} (control: {data['control']}), {_window(data)}"
        + ("" if data["registered"] else "  [not in the registry]"),
        *([f"Window: {data['window']['means']}"] if "means" in data["window"] else []),
        _unit(data),
        *([_data(data["data"])] if data.get("data") else []),
        "",
    ]
    if data["empty"]:
        return "\n".join([lines[0], f"No verdict: {data['empty']}."])
    cohorts = data["cohorts"]
    if cohorts:
        units = any("units" in c for c in cohorts)
        lines += [
            table(
                [
                    "variant",
                    *(["units"] if units else []),
                    *("requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms"),
                ],
                [
                    [
                        c["variant"],
                        *([c.get("units")] if units else []),
                        c["requests"],
                        c["errors"],
                        pct(c["error_rate"]),
                        _round(c.get("p50_ms")),
                        _round(c.get("p95_ms")),
                        _round(c.get("p99_ms")),
                    ]
                    for c in cohorts
                ],
            ),
            "",
        ]
    rows = []
    for c in data["comparisons"]:
        median = c.get("median_diff_ms")
        decision = c.get("decision")
        relative = c.get("error_rate_relative")
        rows.append(
            [
                c["variant"],
                f"{pct(c['error_rate'])} vs {pct(c['control_error_rate'])}",
                interval_text(c.get("error_rate_diff_ci")),
                "-"
                if relative is None
                else f"{signed_pct(relative)} {interval(c.get('error_rate_relative_ci'))}",
                _raw_and_adjusted(c, "error"),
                "-" if median is None else f"{median:+.1f}",
                _raw_and_adjusted(c, "latency"),
                f"{decision.upper()}: {c['verdict']}" if decision else c["verdict"],
            ]
        )
    if rows:
        level = f"{1 - data['alpha']:.0%}"
        lines.append(
            f"Against control (alpha {data['alpha']}, at least {data['min_units']} units per arm):"
        )
        lines.append(
            table(
                [
                    "variant",
                    "error rate",
                    f"diff {level} CI",
                    "relative [CI]",
                    "p raw / adjusted",
                    "median diff ms",
                    "latency p raw / adj.",
                    "verdict",
                ],
                rows,
            )
        )
    srm = data.get("sample_ratio")
    if srm:
        verdict = "MISMATCH: check assignment and logging" if srm["mismatch"] else "ok"
        if srm.get("unregistered"):
            named = ", ".join(f"{v}={n}" for v, n in srm["unregistered"].items())
            verdict += f" (traffic in variants the registry does not name: {named})"
        observed = ", ".join(f"{k}={v}" for k, v in srm["observed"].items())
        lines += [
            "",
            f"Sample ratio ({srm['method']}): {observed}; p = {p_value(srm['p_value'])}: {verdict}",
        ]
    for note in data.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _unit(data: dict[str, Any]) -> str:
    """Which attribute named the units, where it came from, and whether any span had it."""
    return f"Unit of analysis: {unit_words(data['unit'])}"


def coverage(data: dict[str, Any]) -> str:
    if not data["requests"]:
        return f"Tagging coverage, {_window(data)}: no entry requests in this window."
    lines = [
        f"Tagging coverage, {_window(data)}: {pct(data['coverage'])} of {data['requests']} "
        "entry requests carry an assignment."
    ]
    below = data["below_threshold"]
    if below:
        lines.append(f"Below {pct(data['threshold'], 0)}:")
        lines.append(
            table(
                ["service", "route", "requests", "tagged", "coverage"],
                [
                    [r["service"], r["route"], r["requests"], r["tagged"], pct(r["coverage"])]
                    for r in below
                ],
            )
        )
    return "\n".join(lines)


def propagation(data: dict[str, Any]) -> str:
    rows = []
    losing = data["losing_hops"]
    hops = sorted(losing, key=lambda h: h["coverage"]) + [
        h for h in data["hops"] if h not in losing
    ]
    for h in hops:
        marker = "  <- loses the tag" if h in losing else ""
        rows.append(
            [
                h["from_service"] or "(entry)",
                h["service"],
                h["items"],
                h["carrying"],
                pct(h["coverage"]) + marker,
            ]
        )
    lines = [
        f"Propagation coverage, {_window(data)}: spans of tagged traces that still carry "
        "the tag, per hop",
        table(["from", "to", "spans", "carrying", "coverage"], rows)
        if rows
        else "no tagged trace in this window: nothing to measure (no verdict)",
    ]
    if data["logs"]:
        lines += [
            "",
            table(
                ["service", "logs", "carrying", "coverage"],
                [
                    [r["service"], r["items"], r["carrying"], pct(r["coverage"])]
                    for r in data["logs"]
                ],
            ),
        ]
    return "\n".join(lines)


def attribution(rows: list[dict[str, Any]]) -> str:
    return (
        "Attribution: tagged telemetry linked to a registered artifact\n"
        + table(
            ["signal", "items", "tagged", "linked", "completeness"],
            [
                [r["signal"], r["items"], r["tagged"], r["linked"], pct(r["completeness"])]
                for r in rows
            ],
        )
        + f"\n{ATTRIBUTION_NOTE}"
    )


def incident(data: dict[str, Any]) -> str:
    """Suspects (significantly more errors than their control, Holm-adjusted) first, whatever
    the page; this page's other arms after them, by evidence, each with its rank."""
    suspects = data["suspects"]
    others = [r for r in data["ranked"] if not r["suspect"]]
    scope = data["scope"]
    lines = [
        f"Incident window {_window(data)}"
        + (f", service {data['service']}" if data["service"] else "")
        + (f", route {data['route']}" if data["route"] else ""),
        "",
    ]
    if scope["empty"]:
        return "\n".join([*lines, f"No verdict: {scope['empty']}."])
    lines[-1:] = [
        f"In scope: {scope['requests']} requests, {scope['errors']} failed (tagged or not). "
        "share of errors = excess errors / failed requests in scope.",
        "",
    ]
    columns = [
        "requests",
        "errors",
        "excess errors",
        "share of errors",
        "p95 shift ms",
        "adjusted p",
    ]

    def cells(r: dict[str, Any]) -> list[Any]:
        return [
            r["experiment"],
            r["variant"],
            r["requests"],
            r["errors"],
            _round(r["excess_errors"]),
            pct(r["excess_share"]),
            _round(r["p95_shift_ms"]),
            p_value(r["adjusted_p_value"]),
        ]

    if suspects:
        lines.append(
            "Suspects: significantly more errors than their control "
            f"({data['method']['name']} test over this window, Holm-adjusted over "
            f"{counted(data['method']['suspects'], 'arm')} tested)"
        )
        lines.append(
            table(
                ["rank", "experiment", "variant", *columns],
                [[r["rank"], *cells(r)] for r in suspects],
            )
        )
    else:
        lines.append("No experiment-variant has significantly more errors than its control.")
    if data.get("without_control"):
        lines.append(f"{unweighed(data['without_control'])} (ranked last).")
    if others:
        lines += ["", "Not suspects (no significant excess), by evidence:"]
        lines.append(
            table(
                ["rank", "experiment", "variant", *columns, "why no p-value"],
                [[r["rank"], *cells(r), r["note"] or ""] for r in others],
            )
        )
    ranked = (data.get("overflow") or {}).get("ranked")
    if ranked and ranked["truncated"]:
        lines += ["", f"Ranked arms {overflow(ranked)}"]
    if data["registry_events"]:
        lines += ["", "Registry events in the window:"]
        lines += [
            f"  {e['at']}  {e['experiment_id']}  {e['action']} by {e['actor']}"
            for e in data["registry_events"]
        ]
    return "\n".join(lines)


def overflow(info: dict[str, Any]) -> str:
    """Where a cut list's page lies in the whole, and how to see the rest."""
    if not info["shown"]:
        return (
            f"nothing from --offset {info['offset']}: the list holds {info['total']} "
            "(--offset N below that)"
        )
    return (
        f"showing {info['offset'] + 1}-{info['offset'] + info['shown']} of {info['total']}: "
        "the list was cut (--limit N, --offset N for more)"
    )


def _footer(data: Any) -> str:
    cut = getattr(data, "truncated", False)
    return f"\n{overflow(data.overflow())}" if cut else ""


def burn(rows: list[dict[str, Any]]) -> str:
    def rate(row: dict[str, Any], window: str) -> str:
        value = row["excess_burn_rates"][window]
        shown = "-" if value is None else f"{value:.2f}"
        return shown if row["covered"][window] else f"{shown}*"

    return (
        "Experiment-caused burn: each variant's excess error rate over control against its "
        "error budget, largest first (control never pages; *: less data than the window)\n"
        + table(
            ["experiment", "variant", "SLO", *WINDOWS, "status"],
            [
                [r["experiment"], r["variant"], pct(r["availability_target"], 2)]
                + [rate(r, w) for w in WINDOWS]
                + [burn_status(r).upper()]
                for r in rows
            ],
        )
        + _footer(rows)
    )


def seen(data: list[dict[str, Any]]) -> str:
    """Experiments seen in telemetry: variants, tagged entry spans, last seen."""
    return (
        "Experiments that tagged entry spans in the window\n"
        + table(
            ["experiment", "variants", "entry spans", "last seen (UTC)"],
            [
                [r["experiment"], ", ".join(r["variants"]), r["spans"], str(r["last_seen"])[:19]]
                for r in data
            ],
        )
        + _footer(data)
    )


def cardinality(data: list[dict[str, Any]]) -> str:
    return rows(data) + _footer(data)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def experiments(rows: list[dict[str, Any]]) -> str:
    return table(
        ["id", "status", "owner", "variants", "control", "version"],
        [
            [
                e["id"],
                e["status"],
                e["owner"],
                ", ".join(f"{k}:{v:g}" for k, v in e["variants"].items()),
                e["control"],
                e["version"],
            ]
            for e in rows
        ],
    )


def _weights(variants: dict[str, float]) -> str:
    total = sum(variants.values()) or 1
    return ", ".join(f"{k} {v:g} ({v / total:.0%})" for k, v in variants.items())


def _value(value: Any) -> str:
    """A registry field as people write it, not as a Python repr."""
    if value is None or value in ("", [], {}):
        return "-"
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
        return "; ".join(
            f"{k}: " + ", ".join(f"{kind}={v}" for kind, v in inner.items())
            for k, inner in value.items()
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_FIELDS = (
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("owner", "owner"),
    ("description", "description"),
    ("variants", "variants (weight, share)"),
    ("control", "control"),
    ("artifacts", "artifacts"),
    ("scope", "scope (services)"),
    ("slo", "SLOs"),
    ("unit", "unit attribute"),
    ("start_time", "started"),
    ("end_time", "ended"),
    ("version", "version"),
    ("changed_at", "changed at"),
    ("changed_by", "changed by"),
)
_NOT_CHANGES = {"id", "version", "changed_at", "changed_by"}


def experiment(data: dict[str, Any]) -> str:
    """One registered experiment as a two-column table."""
    return table(
        ["field", "value"],
        [
            [label, _weights(data[key]) if key == "variants" else _value(data.get(key))]
            for key, label in _FIELDS
        ],
    )


def history(entries: list[dict[str, Any]]) -> str:
    """The audit log as a diff: each change's fields, old -> new."""
    labels = dict(_FIELDS)
    out = []
    for entry in entries:
        old = json.loads(entry["old"]) if entry["old"] else {}
        new = json.loads(entry["new"]) if entry["new"] else {}
        changed = [
            [labels.get(k, k), _value(old.get(k)) if old else "", _value(new.get(k))]
            for k in new
            if k not in _NOT_CHANGES and old.get(k) != new.get(k) and (old or new.get(k))
        ]
        first = [str(entry["at"])[:23], entry["actor"], entry["action"]]
        for i, (field, before, after) in enumerate(changed or [["-", "", ""]]):
            change = f"{before} -> {after}" if old else after
            out.append([*(first if i == 0 else ["", "", ""]), field, change])
    return table(["at (UTC)", "by", "action", "field", "old -> new"], out)


LAG_COLUMNS = ["measure", "signal", "service", "items", "p50 ms", "p99 ms", "max ms", "over/future"]


def lag(data: list[dict[str, Any]]) -> str:
    """Ingestion lag, two measures apart: the pipeline's own (acknowledged -> queryable,
    against its target) and how late telemetry arrives from its sources."""
    rows_out = [
        [
            r["measure"],
            r["signal"] or "-",
            r["service"],
            r["items"],
            _round(r["p50_ms"]),
            _round(r["p99_ms"]),
            _round(r["max_ms"]),
            r["over_target"] if r["measure"] == "pipeline" else r["future_dated"],
        ]
        for r in data
    ]
    return (
        "Ingestion lag. pipeline: from acknowledging an export to its rows being queryable "
        "(target under 30 s; last column: samples over it). arrival: from the end of a span or "
        "log record to its storage (last column: items dated in the future, kept out of the "
        "percentiles)\n"
        + (
            table(
                LAG_COLUMNS,
                rows_out,
            )
            if rows_out
            else "no telemetry stored in this window: nothing to measure"
        )
        + ("" if any(r["measure"] == "pipeline" for r in data) else f"\n{NO_PIPELINE}")
    )


def rows(data: list[dict[str, Any]]) -> str:
    if not data:
        return "(no rows)"
    return table(list(data[0]), [list(r.values()) for r in data])
