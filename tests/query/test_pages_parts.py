"""The pieces the pages compute themselves: decisions, suspect intervals, bucket widths."""

import pytest

from exptrace.query import charts, render
from exptrace.query.api import Window
from exptrace.query.page_experiments import _metric_rows, _words, decision
from exptrace.query.series import bucket_seconds


def test_decision_reads_the_structured_field_and_falls_back_to_the_verdict():
    """The page colours a variant by the report's structured decision when it has one, and
    by today's verdict text otherwise, so it works before and after the report grows."""
    assert decision({"verdict": "more errors, slower"}) == "fail"
    assert decision({"verdict": "faster"}) == "pass"
    assert decision({"verdict": "no significant difference"}) == "inconclusive"
    assert decision({"verdict": "not enough data (needs 200 requests per arm)"}) == "inconclusive"
    assert decision({"verdict": "fewer errors", "decision": "fail"}) == "fail"
    assert decision({"decision": {"decision": "pass"}}) == "pass"
    assert decision({"decision": "bogus", "verdict": "slower"}) == "fail"


def test_interval_rows_use_per_metric_estimates_when_present():
    legacy = {"variant": "B", "verdict": "more errors", "error_rate_diff": 0.05}
    legacy["error_rate_diff_ci"] = [0.03, 0.07]
    [row] = _metric_rows(legacy, charts.BAD)
    assert (row.label, row.estimate, row.low, row.high) == ("B", 0.05, 0.03, 0.07)
    richer = {
        **legacy,
        "metrics": {
            "error_rate": {"estimate": 0.04, "interval": [0.01, 0.08], "p_value": 0.01},
            "latency_p50_ms": {"estimate": 20.0, "interval": [5.0, 30.0]},
        },
    }
    [row] = _metric_rows(richer, charts.BAD)
    assert (row.label, row.estimate, row.low, row.high) == ("B · error_rate", 0.04, 0.01, 0.08)
    [row] = _metric_rows(richer, charts.BAD, latency=True)
    assert (row.label, row.estimate, row.low, row.high) == ("B · latency_p50_ms", 20.0, 5.0, 30.0)
    assert _metric_rows(legacy, charts.BAD, latency=True) == []  # no latency interval today


def test_report_fields_of_any_shape_read_as_words():
    """Unit and method may grow from text into structures; the page never shows a repr."""
    assert _words("user") == "user"
    assert _words({"errors": "confidence sequence", "latency": ["delta", "method"]}) == (
        "errors: confidence sequence; latency: delta, method"
    )


def test_bucket_width_keeps_at_most_forty_buckets():
    assert bucket_seconds(Window.parse("2026-11-29T10:00", "2026-11-29T10:01:30")) == 5
    assert bucket_seconds(Window.parse("2026-11-29T10:00", "2026-11-29T11:00")) == 120
    assert bucket_seconds(Window.parse("2026-11-22T10:00", "2026-11-29T10:00")) == 21600


@pytest.mark.parametrize(
    ("unit", "line"),
    [
        (
            {"attribute": "user.id", "attribute_from": "registry", "analysis": "units", "units": 3},
            "Unit of analysis: user.id (registered), 3 units",
        ),
        (
            {"attribute": "exptrace.unit", "attribute_from": "registry", "analysis": "units",
             "units": 3},
            "Unit of analysis: exptrace.unit (the default, as registered), 3 units",
        ),
        (
            {"attribute": "exptrace.unit", "attribute_from": "default", "analysis": "requests"},
            "Unit of analysis: requests (exptrace.unit (default) is on no request)",
        ),
    ],
)  # fmt: skip
def test_the_unit_line_says_where_the_attribute_came_from(unit, line):
    """An experiment upgraded from before units were registered reads the default as such,
    not as a choice somebody made."""
    assert render._unit({"unit": unit}) == line
