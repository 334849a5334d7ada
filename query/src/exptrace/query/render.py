"""Readable text tables for the CLI and the demo."""

from __future__ import annotations

from typing import Any


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


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def interval(pair: list[float | None] | None, as_pct: bool = True) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "-"
    fmt = (lambda v: f"{v * 100:+.2f}%") if as_pct else (lambda v: f"{v:+.3g}")
    return f"[{fmt(pair[0])}, {fmt(pair[1])}]"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def report(data: dict[str, Any]) -> str:
    lines = [
        f"Experiment {data['experiment']} (control: {data['control']}), "
        f"{data['window']['start'][:19]} to {data['window']['end'][:19]} UTC"
        + ("" if data["registered"] else "  [not in the registry]"),
        "",
        table(
            ["variant", "requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms"],
            [
                [
                    c["variant"],
                    c["requests"],
                    c["errors"],
                    pct(c["error_rate"]),
                    round(c["p50_ms"], 1),
                    round(c["p95_ms"], 1),
                    round(c["p99_ms"], 1),
                ]
                for c in data["cohorts"]
            ],
        ),
        "",
    ]
    rows = []
    for c in data["comparisons"]:
        rows.append(
            [
                c["variant"],
                f"{pct(c['error_rate'])} vs {pct(c['control_error_rate'])}",
                interval(c.get("error_rate_diff_ci")),
                f"{c['error_rate_relative'] * 100:+.0f}% {interval(c['error_rate_relative_ci'])}"
                if c.get("error_rate_relative") is not None
                else "-",
                p_value(c.get("error_p_value")),
                f"{c['median_diff_ms']:+.1f}" if "median_diff_ms" in c else "-",
                p_value(c.get("latency_p_value")),
                c["verdict"],
            ]
        )
    if rows:
        lines.append(
            f"Against control (alpha {data['alpha']}, "
            f"at least {data['min_requests']} requests per arm):"
        )
        lines.append(
            table(
                [
                    "variant",
                    "error rate",
                    "diff 95% CI",
                    "relative [CI]",
                    "p",
                    "median ms",
                    "p (rank)",
                    "verdict",
                ],
                rows,
            )
        )
    srm = data.get("sample_ratio")
    if srm:
        verdict = "MISMATCH: check assignment and logging" if srm["mismatch"] else "ok"
        observed = ", ".join(f"{k}={v}" for k, v in srm["observed"].items())
        lines += [
            "",
            f"Sample ratio: {observed}; chi-square p = {p_value(srm['p_value'])}: {verdict}",
        ]
    for note in data.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def coverage(data: dict[str, Any]) -> str:
    lines = [
        f"Tagging coverage: {pct(data['coverage'])} of {data['requests']} entry requests "
        "carry an assignment."
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
    for h in data["hops"]:
        marker = "  <- loses the tag" if h in data["losing_hops"] else ""
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
        "Propagation coverage: spans of tagged traces that still carry the tag, per hop",
        table(["from", "to", "spans", "carrying", "coverage"], rows),
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
    return "Attribution: tagged telemetry linked to a registered artifact\n" + table(
        ["signal", "items", "tagged", "linked", "completeness"],
        [[r["signal"], r["items"], r["tagged"], r["linked"], pct(r["completeness"])] for r in rows],
    )


def incident(data: dict[str, Any]) -> str:
    lines = [
        f"Incident window {data['window']['start'][:19]} to {data['window']['end'][:19]} UTC"
        + (f", service {data['service']}" if data["service"] else "")
        + (f", route {data['route']}" if data["route"] else ""),
        "",
    ]
    lines.append(
        table(
            [
                "rank",
                "experiment",
                "variant",
                "requests",
                "errors",
                "excess errors",
                "share of errors",
                "p95 shift ms",
            ],
            [
                [
                    i + 1,
                    r["experiment"],
                    r["variant"],
                    r["requests"],
                    r["errors"],
                    round(r["excess_errors"], 1),
                    pct(r["error_share"]),
                    round(r["p95_shift_ms"], 1),
                ]
                for i, r in enumerate(data["ranked"])
            ],
        )
    )
    if data["registry_events"]:
        lines += ["", "Registry events in the window:"]
        lines += [
            f"  {e['at']}  {e['experiment_id']}  {e['action']} by {e['actor']}"
            for e in data["registry_events"]
        ]
    return "\n".join(lines)


def burn(rows: list[dict[str, Any]]) -> str:
    return "Burn rates against each experiment's availability SLO\n" + table(
        ["experiment", "variant", "SLO", "5m", "30m", "1h", "6h", "3d", "status"],
        [
            [r["experiment"], r["variant"], pct(r["availability_target"], 2)]
            + [round(r["burn_rates"][w], 2) for w in ("5m", "30m", "1h", "6h", "3d")]
            + [r["status"].upper()]
            for r in rows
        ],
    )


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


def rows(data: list[dict[str, Any]]) -> str:
    if not data:
        return "(no rows)"
    return table(list(data[0]), [list(r.values()) for r in data])
