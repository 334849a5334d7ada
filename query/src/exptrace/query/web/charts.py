"""Charts as inline SVG, drawn on the server: no JavaScript, nothing fetched by the browser.

Every label goes through ``html.escape``; every mark carries a ``<title>`` (the browser's own
tooltip) with its exact value, and ``data-*`` attributes name what it shows.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH = 920
PALETTE = ("#2563eb", "#ea580c", "#7c3aed", "#0891b2", "#a16207", "#db2777", "#4d7c0f")
CONTROL = "#6b7280"
BAD = "#dc2626"
GOOD = "#16a34a"
NEUTRAL = "#6b7280"
VERDICT_COLOURS = {"fail": BAD, "pass": GOOD, "inconclusive": NEUTRAL}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def colours(labels: Sequence[str], control: str | None = None) -> dict[str, str]:
    """A stable colour per label; the control is grey."""
    out, i = {}, 0
    for label in labels:
        if label == control:
            out[label] = CONTROL
        else:
            out[label] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def nice_max(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) at or above it."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
    return next(m * power for m in steps if m * power >= value * (1 - 1e-12))


def nice_step(value: float) -> float:
    """The smallest round tick step (1, 2, 2.5 or 5 x 10^k) at or above it, so an axis's
    ticks are exact in any format."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-12))


def _time_label(moment: dt.datetime, span: float) -> str:
    if span <= 600:
        return moment.strftime("%H:%M:%S")
    if span <= 2 * 86400:
        return moment.strftime("%H:%M")
    return moment.strftime("%d %b %H:%M")


@dataclass
class Line:
    """One series: (time, value) points; a missing bucket breaks the line."""

    label: str
    points: list[tuple[dt.datetime, float, str]]
    colour: str
    width: float = 2.0


@dataclass
class Marker:
    """A vertical annotation: a registry event, a deploy."""

    at: dt.datetime
    label: str
    detail: str = ""


@dataclass
class LineChart:
    title: str
    start: dt.datetime
    end: dt.datetime
    step_seconds: int
    y_format: Callable[[float], str]
    lines: list[Line] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    threshold: float | None = None
    threshold_label: str = ""
    y_max: float | None = None
    y_min: float = 0.0
    height: int = 260

    def svg(self) -> str:
        left, right, top, bottom = 64, 210, 28, 34
        w, h = WIDTH, self.height
        plot_w, plot_h = w - left - right, h - top - bottom
        span = max((self.end - self.start).total_seconds(), 1.0)
        values = [v for line in self.lines for _, v, _ in line.points]
        top_value = self.y_max or nice_max(max([*values, self.threshold or 0, 0]) * 1.1)

        def x(moment: dt.datetime) -> float:
            return left + plot_w * (moment - self.start).total_seconds() / span

        low = self.y_min

        def y(value: float) -> float:
            value = max(low, min(value, top_value))
            return top + plot_h * (1 - (value - low) / (top_value - low))

        parts = [
            f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" data-chart="line" '
            f'aria-label="{esc(self.title)}" xmlns="http://www.w3.org/2000/svg">',
            f'<text x="{left}" y="16" class="title">{esc(self.title)}</text>',
        ]
        for i in range(5):
            value = low + (top_value - low) * i / 4
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                f'class="grid"/><text x="{left - 6}" y="{y(value) + 4:.1f}" class="axis" '
                f'text-anchor="end">{esc(self.y_format(value))}</text>'
            )
        for i in range(7):
            moment = self.start + dt.timedelta(seconds=span * i / 6)
            parts.append(
                f'<text x="{x(moment):.1f}" y="{h - 12}" class="axis" text-anchor="middle">'
                f"{esc(_time_label(moment, span))}</text>"
            )
        if self.threshold is not None:
            ty = y(self.threshold)
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
                f'class="threshold"/><text x="{left + plot_w - 4}" y="{ty - 4:.1f}" '
                f'class="axis threshold-label" text-anchor="end">{esc(self.threshold_label)}</text>'
            )
        parts += _marker_parts(
            [m for m in self.markers if self.start <= m.at <= self.end],
            x,
            left,
            plot_w,
            top,
            plot_h,
        )
        step = dt.timedelta(seconds=self.step_seconds)
        for i, line in enumerate(self.lines):
            parts.append(
                f'<g class="series" data-series="{esc(line.label)}" '
                f'data-points="{len(line.points)}" stroke="{line.colour}" fill="{line.colour}">'
            )
            runs: list[list[str]] = []
            previous: dt.datetime | None = None
            for moment, value, _ in line.points:
                centre = moment + step / 2
                if previous is None or moment - previous > step:
                    runs.append([])
                runs[-1].append(f"{x(centre):.1f},{y(value):.1f}")
                previous = moment
            for run in runs:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke-width="{line.width}"/>'
                )
            for moment, value, note in line.points:
                parts.append(
                    f'<circle cx="{x(moment + step / 2):.1f}" cy="{y(value):.1f}" '
                    f'r="{line.width + 0.5}"><title>{esc(line.label)} at '
                    f"{esc(moment.strftime('%H:%M:%S'))}: {esc(self.y_format(value))} "
                    f"{esc(note)}</title></circle>"
                )
            parts.append("</g>")
            ly = top + 14 + 18 * i
            parts.append(
                f'<g class="legend"><rect x="{left + plot_w + 14}" y="{ly - 9}" width="14" '
                f'height="{max(line.width, 3)}" fill="{line.colour}"/><text '
                f'x="{left + plot_w + 34}" y="{ly}">{esc(_short(line.label, 26))}</text></g>'
            )
        if not values:
            parts.append(
                f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" class="empty" '
                f'text-anchor="middle">no requests in this window</text>'
            )
        parts.append("</svg>")
        return "".join(parts)


VALUE_CHAR_WIDTH = 7.4
"""Pixels per character of a 12 px bold value label, generous so a label never leaves its
chart (the whole text is in the row's tooltip)."""
MARKER_LANES = 4
"""Rows of annotation labels at the top of a line chart."""
MARKER_CHAR_WIDTH = 6.6
"""Pixels per character of an 11 px annotation label, a little generous so none touch."""


def _marker_parts(
    markers: list[Marker],
    x: Callable[[dt.datetime], float],
    left: float,
    plot_w: float,
    top: float,
    plot_h: float,
) -> list[str]:
    """Registry events as dashed lines with labels that never overlap one another or leave
    the plot (the legend is right of it): each label takes the first row where it fits, right
    of its line or else left of it; a label that fits nowhere is left to the line's tooltip."""
    groups: list[list[Marker]] = []
    for marker in sorted(markers, key=lambda m: m.at):
        if groups and x(marker.at) - x(groups[-1][0].at) < 8:
            groups[-1].append(marker)  # events a few pixels apart share one line
        else:
            groups.append([marker])
    lanes: list[list[tuple[float, float]]] = [[] for _ in range(MARKER_LANES)]
    parts = []
    for group in groups:
        mx = x(group[0].at)
        label = _short(group[0].label + (f" +{len(group) - 1} more" if len(group) > 1 else ""), 32)
        width = len(label) * MARKER_CHAR_WIDTH
        text = ""
        for n, lane in enumerate(lanes):
            spot = next(
                (
                    (low, anchor)
                    for low, anchor in ((mx + 3, "start"), (mx - 3 - width, "end"))
                    if left <= low
                    and low + width <= left + plot_w
                    and all(low + width + 4 <= a or low >= b + 4 for a, b in lane)
                ),
                None,
            )
            if spot is not None:
                low, anchor = spot
                lane.append((low, low + width))
                tx = low if anchor == "start" else low + width
                text = (
                    f'<text x="{tx:.1f}" y="{top + 11 + 12 * n}" class="marker-label" '
                    f'text-anchor="{anchor}">{esc(label)}</text>'
                )
                break
        detail = "; ".join(
            f"{m.at.strftime('%Y-%m-%d %H:%M:%S')} UTC: {m.label} {m.detail}" for m in group
        )
        names = "|".join(m.label for m in group)
        parts.append(
            f'<g class="marker" data-marker="{esc(names)}"><title>{esc(detail)}</title>'
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + plot_h}"/>{text}</g>'
        )
    return parts


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


@dataclass
class Interval:
    """One row of an interval chart: an estimate with its interval, coloured by its verdict."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    colour: str
    note: str = ""


def interval_chart(
    title: str, rows: Sequence[Interval], fmt: Callable[[float], str], zero_label: str = ""
) -> str:
    """Horizontal whiskers around zero (no difference): GrowthBook-style delta bars."""
    left, right, top, row_h = 190, 230, 52, 34
    w = WIDTH
    h = top + row_h * max(len(rows), 1) + 26
    plot_w = w - left - right
    bounds = [
        abs(v)
        for r in rows
        for v in (r.estimate, r.low, r.high)
        if v is not None and math.isfinite(v)
    ]
    extent = nice_max(max([*bounds, 1e-9]) * 1.1)

    def x(value: float) -> float:
        value = max(-extent, min(extent, value))
        return left + plot_w * (value + extent) / (2 * extent)

    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" data-chart="interval" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="8" y="16" class="title">{esc(title)}</text>',
    ]
    for i in range(5):
        value = -extent + 2 * extent * i / 4
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top - 6}" y2="{h - 24}" '
            f'class="grid"/><text x="{x(value):.1f}" y="{h - 8}" class="axis" '
            f'text-anchor="middle">{esc(fmt(value))}</text>'
        )
    parts.append(
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 10}" y2="{h - 24}" class="zero"/>'
        f'<text x="{x(0):.1f}" y="{top - 14}" class="axis" text-anchor="middle">'
        f"{esc(zero_label)}</text>"
    )
    for i, row in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        bounds_text = f"[{_fmt_or(row.low, fmt)}, {_fmt_or(row.high, fmt)}]"
        tip = f"{row.label}: {_fmt_or(row.estimate, fmt)} {bounds_text} {row.note}"
        parts.append(
            f'<g class="interval" data-label="{esc(row.label)}" data-colour="{row.colour}">'
            f"<title>{esc(tip)}</title>"
            f'<text x="{left - 10}" y="{cy + 4:.1f}" text-anchor="end" class="label">'
            f"{esc(_short(row.label, 26))}</text>"
        )
        if row.estimate is not None:
            low = row.low if row.low is not None and math.isfinite(row.low) else -extent
            high = row.high if row.high is not None and math.isfinite(row.high) else extent
            parts.append(
                f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" '
                f'stroke="{row.colour}" stroke-width="10" stroke-linecap="round" opacity="0.35"/>'
                f'<circle cx="{x(row.estimate):.1f}" cy="{cy:.1f}" r="6" fill="{row.colour}"/>'
            )
        parts.append(
            f'<text x="{left + plot_w + 10}" y="{cy + 4:.1f}" class="value" '
            f'fill="{row.colour}">{esc(_short(row.note, int((right - 14) / VALUE_CHAR_WIDTH)))}'
            "</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt_or(value: float | None, fmt: Callable[[float], str]) -> str:
    return "?" if value is None or not math.isfinite(value) else fmt(value)


@dataclass
class Bar:
    label: str
    value: float
    colour: str
    text: str


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    mark: float | None = None,
    mark_label: str = "",
    axis: Callable[[float], str] = lambda v: f"{v:,.4g}",
) -> str:
    """Horizontal bars from zero on a labelled value axis (``axis`` formats its ticks), with
    an optional vertical mark (a threshold)."""
    left, right, top, row_h, axis_h = 260, 170, 30, 26, 22
    w = WIDTH
    bottom = top + row_h * max(len(bars), 1)
    h = bottom + axis_h + 6
    plot_w = w - left - right
    highest = max([b.value for b in bars] + [mark or 0, 0]) * 1.05
    step = nice_step(highest / 4)
    ticks = max(1, math.ceil(highest / step))
    top_value = step * ticks
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" data-chart="bar" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="8" y="16" class="title">{esc(title)}</text>',
    ]
    for i in range(ticks + 1):
        value = step * i
        tx = left + plot_w * i / ticks
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{bottom}" class="grid"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" class="axis tick" text-anchor="middle">'
            f"{esc(axis(value))}</text>"
        )
    for i, bar in enumerate(bars):
        y0 = top + row_h * i
        width = plot_w * max(bar.value, 0) / top_value
        parts.append(
            f'<g class="bar" data-label="{esc(bar.label)}"><title>{esc(bar.label)}: '
            f"{esc(bar.text)}</title>"
            f'<text x="{left - 8}" y="{y0 + 15}" text-anchor="end" class="label">'
            f"{esc(_short(bar.label, 38))}</text>"
            f'<rect x="{left}" y="{y0 + 3}" width="{max(width, 1):.1f}" height="{row_h - 8}" '
            f'fill="{bar.colour}"/><text x="{left + max(width, 1) + 6:.1f}" y="{y0 + 15}" '
            f'class="value">{esc(bar.text)}</text></g>'
        )
    if mark is not None:
        mx = left + plot_w * mark / top_value
        parts.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 4}" y2="{bottom}" class="threshold"/>'
            f'<text x="{mx:.1f}" y="{top - 8}" class="axis threshold-label" '
            f'text-anchor="middle">{esc(mark_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class Hop:
    """A call from one service to another, and the share of its spans that kept the tag."""

    source: str
    target: str
    coverage: float
    items: int
    losing: bool


def service_graph(title: str, hops: Sequence[Hop], entry_label: str = "tagged requests") -> str:
    """Services in columns by call depth; a hop that loses the tag is red, thick and dashed."""
    depth: dict[str, int] = {}
    entry = "\x00entry"
    edges = [(h.source or entry, h.target, h) for h in hops]
    depth[entry] = 0
    for _ in range(len(edges) + 1):
        changed = False
        for source, target, _h in edges:
            if source in depth and depth.get(target, -1) < depth[source] + 1 <= len(edges):
                depth[target] = depth[source] + 1
                changed = True
        if not changed:
            break
    for source, target, _h in edges:
        depth.setdefault(source, 1)
        depth.setdefault(target, depth[source] + 1)
    columns: dict[int, list[str]] = {}
    for name, d in sorted(depth.items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(d, []).append(name)
    col_w, row_h, node_w, node_h, top = 250, 96, 130, 44, 44
    w = max(WIDTH, 40 + col_w * len(columns))
    h = top + row_h * (max(len(c) for c in columns.values()) - 1) + node_h + 24
    pos = {
        name: (30 + col_w * d, top + row_h * i)
        for d, names in columns.items()
        for i, name in enumerate(names)
    }
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" data-chart="graph" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="12" '
        'markerHeight="12" markerUnits="userSpaceOnUse" orient="auto"><path '
        'd="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
        f'<text x="8" y="16" class="title">{esc(title)}</text>',
    ]
    for source, target, hop in edges:
        (x1, y1), (x2, y2) = pos[source], pos[target]
        sx, sy, tx, ty = x1 + node_w, y1 + node_h / 2, x2, y2 + node_h / 2
        if x2 <= x1:  # a call back to an earlier column: route below the nodes
            sx, sy, tx, ty = x1 + node_w / 2, y1 + node_h, x2 + node_w / 2, y2 + node_h
        colour = BAD if hop.losing else GOOD
        width = 5 if hop.losing else 2.5
        dash = ' stroke-dasharray="8 5"' if hop.losing else ""
        label = f"{hop.coverage:.0%} tagged"
        mx, my = (sx + tx) / 2, (sy + ty) / 2
        lost = (
            f'<text x="{mx:.1f}" y="{my + 20:.1f}" text-anchor="middle" class="hop-label" '
            f'fill="{BAD}">TAG LOST</text>'
            if hop.losing
            else ""
        )
        parts.append(
            f'<g class="hop{" losing" if hop.losing else ""}" data-from="{esc(hop.source)}" '
            f'data-to="{esc(hop.target)}" data-coverage="{hop.coverage:.4f}">'
            f"<title>{esc(hop.source or 'entry')} → {esc(hop.target)}: {hop.coverage:.1%} of "
            f"{hop.items} spans carry the experiment tag</title>"
            f'<path d="M{sx:.1f},{sy:.1f} C{mx:.1f},{sy:.1f} {mx:.1f},{ty:.1f} '
            f'{tx - 2:.1f},{ty:.1f}" '
            f'stroke="{colour}" stroke-width="{width}" fill="none"{dash} marker-end="url(#arrow)"/>'
            f'<text x="{mx:.1f}" y="{my - 8:.1f}" text-anchor="middle" class="hop-label" '
            f'fill="{colour}">{esc(label)}</text>{lost}</g>'
        )
    losing_targets = {h.target for h in hops if h.losing}
    for name, (x0, y0) in pos.items():
        shown = entry_label if name == entry else name
        cls = "node entry" if name == entry else "node"
        stroke = BAD if name in losing_targets else "#334155"
        parts.append(
            f'<g class="{cls}" data-service="{esc("" if name == entry else name)}">'
            f'<rect x="{x0}" y="{y0}" width="{node_w}" height="{node_h}" rx="8" '
            f'stroke="{stroke}"/><text x="{x0 + node_w / 2}" y="{y0 + node_h / 2 + 5}" '
            f'text-anchor="middle">{esc(_short(shown, 17))}</text></g>'
        )
    if not hops:
        parts.append(
            f'<text x="{w / 2}" y="{h / 2}" class="empty" text-anchor="middle">'
            "no tagged trace in this window</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
