"""The pieces the pages compute themselves: decisions, suspect intervals, bucket widths."""

import pytest

from exptrace.query import Window
from exptrace.query.core import words
from exptrace.query.core.series import bucket_seconds
from exptrace.query.text import render
from exptrace.query.web import charts
from exptrace.query.web.page_experiments import _metric_rows, decision


def test_each_metric_row_carries_its_own_verdict_not_the_variants():
    """A variant that fails on errors can have a p50 whose interval crosses zero: that row
    says so, in its own colour, instead of repeating "more errors"."""
    errors = {"metric": "error_rate", "estimate": 0.1, "interval": [0.05, 0.15], "p_value": 1e-6}
    errors |= {"significant": True, "direction": "worse", "guardrail_crossed": True}
    p50 = {"metric": "latency_p50", "estimate": 2.0, "interval": [-3.0, 7.0], "p_value": 0.4}
    p50 |= {"significant": False, "direction": "worse", "guardrail_crossed": False}
    p99 = {"metric": "latency_p99", "estimate": None, "interval": None, "p_value": None}
    p99 |= {"note": "too few requests for p99 (needs 2000 per arm)"}
    comparison = {"variant": "B", "decision": "fail", "metrics": [errors, p50, p99]}
    [row] = _metric_rows(comparison, latency=False)
    assert (row.label, row.colour, row.note) == ("B · error rate", charts.BAD, "more errors")
    median, tail = _metric_rows(comparison, latency=True)
    assert (median.label, median.note) == ("B · p50 latency", "no clear difference yet")
    assert median.colour == charts.VERDICT_COLOURS["inconclusive"]
    assert tail.note.startswith("not compared: too few requests for p99")
    assert decision(comparison) == "fail"


def test_the_unit_line_says_how_many_requests_had_a_unit():
    unit = {"attribute": "user.id", "attribute_from": "registry", "analysis": "units"}
    partial = {**unit, "units": 508, "unidentified_requests": 70, "coverage": 0.9}
    assert words.unit_words({**partial, "low_coverage": True}) == (
        "user.id (registered), 508 units; 90.0% of requests carry one (70 without one left out)"
        " (LOW: see notes)"
    )
    fallback = {**unit, "analysis": "requests", "identified_units": 0, "units": 9}
    assert "no request carries user.id" in words.unit_words(fallback)
    empty = {**unit, "analysis": "requests", "identified_units": 0, "units": 0}
    assert words.unit_words(empty) == "user.id (registered): no request in this window to count"


def test_bucket_width_keeps_at_most_forty_buckets():
    assert bucket_seconds(Window.parse("2026-11-29T10:00", "2026-11-29T10:01:30")) == 5
    assert bucket_seconds(Window.parse("2026-11-29T10:00", "2026-11-29T11:00")) == 120
    assert bucket_seconds(Window.parse("2026-11-22T10:00", "2026-11-29T10:00")) == 21600


@pytest.mark.parametrize(
    ("unit", "line"),
    [
        (
            {"attribute": "user.id", "attribute_from": "registry", "analysis": "units", "units": 3,
             "identified_units": 3},
            "Unit of analysis: user.id (registered), 3 units",
        ),
        (
            {"attribute": "exptrace.unit", "attribute_from": "registry", "analysis": "units",
             "units": 2, "identified_units": 2, "unidentified_requests": 1, "coverage": 2 / 3,
             "low_coverage": True},
            "Unit of analysis: exptrace.unit (the default, as registered), 2 units; 66.7% of "
            "requests carry one (1 without one left out) (LOW: see notes)",
        ),
        (
            {"attribute": "exptrace.unit", "attribute_from": "default", "analysis": "requests",
             "units": 5, "identified_units": 0},
            "Unit of analysis: requests: no request carries exptrace.unit (default), so each "
            "request counts as independent",
        ),
    ],
)  # fmt: skip
def test_the_unit_line_says_where_the_attribute_came_from(unit, line):
    """An experiment upgraded from before units were registered reads the default as such,
    not as a choice somebody made."""
    assert render._unit({"unit": unit}) == line


def test_bar_axis_ticks_are_round_and_cover_the_longest_bar():
    """Four cohorts on an axis reading 0, 2, 4, 6 (not 0, 1, 2, 4, 5 from rounding quarter
    steps), and a 9.1 s lag on one reading up to 10,000 ms."""
    import re

    def ticks(values: list[float]) -> list[str]:
        bars = [charts.Bar(str(i), v, "#000", "") for i, v in enumerate(values)]
        svg = charts.bar_chart("t", bars, axis=lambda v: f"{v:,.0f}")
        return re.findall(r'class="axis tick"[^>]*>([^<]*)<', svg)

    assert ticks([4, 4, 4]) == ["0", "2", "4", "6"]
    assert ticks([9141, 8300]) == ["0", "2,500", "5,000", "7,500", "10,000"]
