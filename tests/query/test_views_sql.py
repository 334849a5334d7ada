"""Contract tests of the query layer's other `.sql` files and of the views `exptrace up`
creates from them: hand-written rows in, known answers out.

What a user would see if these failed: an HTTP 503 counted as a success, a coverage figure
that does not match the traffic, or a plain-SQL view that answers differently from the API.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from exptrace.query import Queries, schema_parts
from exptrace.query.core.sqlfiles import load, views
from tests.query.test_views_report import NOW, insert, span, window


@pytest.fixture
def queries(receiver):
    return Queries(receiver.store)


def test_cohort_slis_count_requests_and_http_errors(receiver, queries):
    insert(
        receiver.store,
        [
            span(100, "t1", "a", variant="B", http=503),  # status Unset, HTTP 503: an error
            span(100, "t2", "b", variant="B"),
            span(100, "t3", "c", variant="control", error=True),
            span(99, "t3", "d", "c", service="checkout", variant="control"),  # same request
            span(100, "t4", "e", service="checkout"),  # untagged: not in any cohort
        ],
    )
    rows = {r["variant"]: r for r in queries.cohort_slis(window(), "checkout")}
    assert (rows["B"]["requests"], rows["B"]["errors"]) == (2, 1)
    assert (rows["control"]["requests"], rows["control"]["errors"]) == (1, 1)
    per_service = queries.cohort_slis(window(), "checkout", by_service=True)
    assert sum(r["requests"] for r in per_service if r["variant"] == "control") == 2


def test_tagging_coverage_and_cardinality(receiver, queries):
    insert(
        receiver.store,
        [
            span(100, "t1", "a", variant="B"),
            span(100, "t2", "b"),
            span(100, "t3", "c", variant="control"),
            span(100, "t4", "d"),
        ],
    )
    coverage = queries.tagging_coverage(window())
    assert (coverage["requests"], coverage["tagged"], coverage["coverage"]) == (4, 2, 0.5)
    [row] = queries.cardinality(window())
    assert (row["service"], row["experiments"], row["cohorts"]) == ("frontend", 1, 2)


def test_burn_rates_per_window(receiver, queries):
    rows = [span(60_000, f"e{i}", f"s{i}", variant="B", error=i < 2) for i in range(10)]
    rows += [span(7_200_000, f"o{i}", f"x{i}", variant="B", error=True) for i in range(10)]
    insert(receiver.store, rows)
    [burn] = [r for r in queries.burn_rates(at=NOW + dt.timedelta(seconds=1))]
    assert burn["requests"]["5m"] == 10 and burn["requests"]["6h"] == 20
    assert burn["burn_rates"]["5m"] == pytest.approx(0.2 / 0.001)


def test_views_created_at_up_answer_as_the_files_do(receiver, queries):
    """`exptrace up` hands every query to ingest as a parameterized view (replaced in place
    on each start); reading the view gives the same rows as running the file."""
    receiver.add_query_parts(**schema_parts())
    receiver.add_query_parts(**schema_parts())  # a second start replaces them without error
    insert(receiver.store, [span(100, "t1", "a", variant="B", unit="u1", error=True)])
    names = {name for name, _ in views()}
    assert {"exptrace_report_arms", "exptrace_cohort_slis", "exptrace_ingestion_lag"} <= names
    assert "exptrace_requests_in_window" not in names  # a fragment, not a query
    params = {
        **window().params(),
        "experiment": "checkout",
        "unit_attribute": "exptrace.unit",
        "trace_horizon_seconds": 300,
        "unit_attributes": {},
        "bracket_z": 1.96,
    }
    sql = load("report_arms")
    args = ", ".join(f"{k} = {{{k}:{t}}}" for k, t in sql.parameters.items())
    through_view = receiver.store.query(
        f"SELECT * FROM exptrace_report_arms({args})",
        params,
    ).dicts()
    assert through_view == queries.engine.run("report_arms", params)
    assert through_view[0]["errors"] == 1


def test_the_readme_sql_example_runs_as_written(receiver):
    """The README's plain-SQL example, with only its window and experiment changed to this
    test's data, runs on the views `exptrace up` creates and counts the error."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    [example] = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)
    receiver.add_query_parts(**schema_parts())
    insert(receiver.store, [span(100, "t1", "a", variant="B", unit="u1", error=True)])
    w = window()
    sql = (
        example.replace("'2026-11-26 14:00:00'", f"'{w.start}'")
        .replace("'2026-11-26 15:00:00'", f"'{w.end}'")
        .replace("'checkout-v2'", "'checkout'")
    )
    assert sql != example
    rows = receiver.store.query(sql.strip().rstrip(";")).dicts()
    assert [(r["variant"], r["units"], r["errors"]) for r in rows] == [("B", 1, 1)]


def test_the_readme_lists_each_views_parameters():
    """A user writing SQL against a view gets every parameter it needs from the README: the
    table there lists exactly the parameters each view declares, fragments' included."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    listed = {
        view: set(re.findall(r"`([a-z_]+)`", params))
        for view, params in re.findall(r"^\| `(exptrace_[a-z_]+)` \| (.*) \|$", readme, re.M)
    }
    declared = {name: set(load(name.removeprefix("exptrace_")).parameters) for name, _ in views()}
    assert listed == declared


def test_cohort_slis_count_every_request_the_report_leaves_unidentified_ones_out(receiver, queries):
    """The README: an SLI counts every request of the arm; the report, once any request
    carries a unit, leaves out those that do not and says how many."""
    insert(
        receiver.store,
        [span(100 + i, f"u{i}", f"s{i}", variant="B", unit=f"user{i}") for i in range(6)]
        + [span(100 + i, f"n{i}", f"z{i}", variant="B", error=True) for i in range(4)],
    )
    [sli] = queries.cohort_slis(window(), "checkout")
    assert (sli["requests"], sli["errors"]) == (10, 4)
    report = queries.report("checkout", window())
    [cohort] = [c for c in report["cohorts"] if c["variant"] == "B"]
    assert (cohort["requests"], cohort["errors"]) == (6, 0)
    assert report["unit"]["unidentified_requests"] == 4
