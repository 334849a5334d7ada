"""Contract tests of the remaining query files: hand-written rows in, known answers out, each
through the public API that reads it.

What a user would see if these failed: an attribution figure that counts untagged items as
tagged, a service hop that loses the tag shown as healthy, an experiment missing from the
list of those seen, a page's time series that disagrees with the report, or an incident
that names the wrong experiment.
"""

from __future__ import annotations

import json

import pytest

from exptrace.query import Queries
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.series import Series
from tests.query.test_views_report import NOW, insert, span, window


@pytest.fixture
def queries(receiver):
    return Queries(receiver.store)


def insert_rows(store, table: str, rows: list[dict]) -> None:
    store.insert_raw(table, "\n".join(json.dumps(r) for r in rows).encode(), "JSONEachRow", {})


def at(ago_ms: int) -> str:
    import datetime as dt

    return (NOW - dt.timedelta(milliseconds=ago_ms)).isoformat(sep=" ")


def test_attribution_counts_tagged_and_linked_items_per_signal(receiver, queries):
    linked = {**span(100, "t1", "a", variant="B"), "Artifacts": {"checkout.model": "v7"}}
    insert(receiver.store, [linked, span(100, "t2", "b", variant="B"), span(100, "t3", "c")])
    insert_rows(
        receiver.store,
        "otel_logs",
        [
            {"Timestamp": at(100), "ServiceName": "f", "Body": "x", "Experiments": {"a": "B"}},
            {"Timestamp": at(100), "ServiceName": "f", "Body": "y"},
        ],
    )
    insert_rows(
        receiver.store,
        "otel_metrics_gauge",
        [{"TimeUnix": at(100), "MetricName": "m", "Value": 1, "Experiments": {"a": "B"}}],
    )
    rows = {r["signal"]: r for r in queries.attribution(window())}
    assert (rows["traces"]["items"], rows["traces"]["tagged"], rows["traces"]["linked"]) == (
        3,
        2,
        1,
    )
    assert rows["traces"]["completeness"] == 0.5
    assert (rows["logs"]["items"], rows["logs"]["tagged"], rows["logs"]["linked"]) == (2, 1, 0)
    assert (rows["metrics"]["items"], rows["metrics"]["tagged"]) == (1, 1)


def test_attribution_over_nothing_tagged_has_no_completeness(queries):
    """0 of 0 is undefined (the CLI and the page show '-'), not a 0% that reads as broken."""
    rows = {r["signal"]: r for r in queries.attribution(window())}
    assert set(rows) == {"traces", "logs", "metrics"}
    assert all(r["tagged"] == 0 and r["completeness"] is None for r in rows.values())


def test_propagation_coverage_names_the_hop_that_loses_the_tag(receiver, queries):
    insert(
        receiver.store,
        [
            span(300, "p1", "r", variant="B"),  # frontend root, tagged
            span(299, "p1", "c", "r", service="checkout", variant="B"),  # keeps it
            span(298, "p1", "p", "c", service="payments"),  # loses it
        ],
    )
    insert_rows(
        receiver.store,
        "otel_logs",
        [{"Timestamp": at(298), "TraceId": "p1", "ServiceName": "payments", "Body": "paid"}],
    )
    found = queries.propagation_coverage(window())
    hops = {(h["from_service"], h["service"]): h for h in found["hops"]}
    assert (hops[("", "frontend")]["items"], hops[("", "frontend")]["carrying"]) == (1, 1)
    assert hops[("frontend", "checkout")]["coverage"] == 1.0
    assert (
        hops[("checkout", "payments")]["items"],
        hops[("checkout", "payments")]["carrying"],
    ) == (1, 0)
    assert [(h["from_service"], h["service"]) for h in found["losing_hops"]] == [
        ("checkout", "payments")
    ]
    [log] = found["logs"]
    assert (log["service"], log["items"], log["carrying"]) == ("payments", 1, 0)


def test_seen_experiments_lists_entry_span_tags_and_filters(receiver, queries):
    Registry(receiver.store).create(Experiment("known", variants={"control": 1, "B": 1}), "t")
    insert(
        receiver.store,
        [
            span(100, "s1", "a", variant="B"),
            span(100, "s2", "b", variant="control"),
            {**span(100, "s3", "c"), "Experiments": {"known": "B"}},
            {**span(100, "s4", "d", kind="Internal"), "Experiments": {"internal-only": "B"}},
        ],
    )
    rows = {r["experiment"]: r for r in queries.seen_experiments(window())}
    assert set(rows) == {"checkout", "known"}  # internal spans are not requests
    assert rows["checkout"]["variants"] == ["B", "control"] and rows["checkout"]["spans"] == 2
    assert [r["experiment"] for r in queries.seen_experiments(window(), unregistered=True)] == [
        "checkout"
    ]
    assert [r["experiment"] for r in queries.seen_experiments(window(), only=["known"])] == [
        "known"
    ]


def test_experiment_series_counts_requests_as_the_report_does(receiver, queries):
    insert(
        receiver.store,
        [
            span(1000, "e1", "a1", http=503, ms=300),  # untagged root fails
            span(999, "e1", "a2", "a1", service="checkout", variant="B", unit="u1"),
            span(900, "e2", "b1", variant="B", unit="u2"),
            span(800, "e3", "c1", variant="control", unit="u3"),
            span(799, "e3", "c2", "c1", service="checkout", variant="B", unit="u3"),  # mixed
        ],
    )
    rows = Series(queries.engine).experiment("checkout", window(), bucket=3600)
    by_variant = {}
    for row in rows:
        by_variant.setdefault(row["variant"], [0, 0])
        by_variant[row["variant"]][0] += int(row["requests"])
        by_variant[row["variant"]][1] += int(row["errors"])
    assert by_variant == {"B": [2, 1]}  # the root's 503 counts; the mixed trace is left out
    report = queries.report("checkout", window())
    [b] = [c for c in report["cohorts"] if c["variant"] == "B"]
    assert (b["requests"], b["errors"]) == (2, 1)


def _incident_traffic(store) -> None:
    rows = []
    for i in range(80):
        rows.append(span(2000 + i, f"b{i}", f"b{i}r", variant="B", unit=f"ub{i}", error=i < 40))
        rows.append(span(2000 + i, f"c{i}", f"c{i}r", variant="control", unit=f"uc{i}"))
    rows += [span(1500, "x", "xr", error=True)]  # an untagged failure: in all_errors only
    rows += [
        span(1400, "s1", "s1r"),  # the root is fine, the checkout service failed
        span(1399, "s1", "s1c", "s1r", service="checkout", variant="B", unit="ub0", error=True),
        span(1300, "s2", "s2r"),
        span(1299, "s2", "s2c", "s2r", service="checkout", variant="control", unit="uc0"),
    ]
    insert(store, rows)


def test_incident_arms_rank_the_failing_variant_with_its_excess(receiver, queries):
    Registry(receiver.store).create(Experiment("checkout", variants={"control": 1, "B": 1}), "t")
    _incident_traffic(receiver.store)
    found = queries.incident(window())
    [top] = found["suspects"]
    assert (top["experiment"], top["variant"]) == ("checkout", "B")
    assert (top["requests"], top["errors"], top["units"]) == (81, 40, 80)  # s1's root is fine
    assert top["excess_errors"] == 40 and top["excess_errors_ci"][0] > 0
    assert found["all_errors"] == 41  # 40 in B and the untagged one
    scoped = queries.incident(window(), service="checkout")
    [arm] = scoped["ranked"]  # checkout's own entry spans: one per arm
    assert (arm["variant"], arm["requests"], arm["errors"]) == ("B", 1, 1)
    assert [c["requests"] for c in scoped["controls"]] == [1]
    assert scoped["all_errors"] == 1 and not scoped["suspects"]  # one request is no evidence


def test_incident_series_buckets_the_arms_with_the_most_errors(receiver, queries):
    _incident_traffic(receiver.store)
    rows = Series(queries.engine).incident(window(), bucket=3600, top=1)
    assert {(r["experiment"], r["variant"]) for r in rows} == {("checkout", "B")}
    assert sum(int(r["errors"]) for r in rows) == 40  # as the attribution counts: s1's root is fine


def test_incident_counts_the_unit_each_experiment_was_registered_with(receiver, queries):
    """An experiment randomized by user.id: 20 users with 4 requests each are 20 units in
    the incident test, as in the report, not 80 independent requests."""
    registry = Registry(receiver.store)
    registry.create(Experiment("checkout", variants={"control": 1, "B": 1}, unit="user.id"), "t")
    rows = []
    for user in range(40):
        variant = "B" if user % 2 else "control"
        for i in range(4):
            row = span(3000 + 4 * user + i, f"t{user}-{i}", f"s{user}-{i}", variant=variant)
            rows.append({**row, "SpanAttributes": {"user.id": f"user-{user}"}})
    insert(receiver.store, rows)
    [arm] = queries.incident(window())["ranked"]
    assert (arm["variant"], arm["units"], arm["requests"]) == ("B", 20, 80)
    assert queries.report("checkout", window())["unit"]["units"] == 40


def test_an_incident_over_nothing_gives_no_verdict(receiver, queries):
    """A misspelled service, or a window with no traffic, is no all-clear: the answer says
    there was nothing to judge, in a field and in the words the CLI prints."""
    from exptrace.query import Window
    from exptrace.query.text import render

    _incident_traffic(receiver.store)
    typo = queries.incident(window(), service="chekout")
    assert typo["scope"]["requests"] == 0
    assert "service 'chekout'" in typo["scope"]["empty"]
    assert typo["verdict"].startswith("no verdict")
    assert "No verdict: no request from service 'chekout'" in render.incident(typo)
    quiet = queries.incident(Window.parse("2020-01-01T00:00", "2020-01-01T01:00"))
    assert quiet["scope"] == {"requests": 0, "errors": 0, "empty": "no request in this window"}
    found = queries.incident(window())
    assert found["scope"] == {"requests": 163, "errors": 41, "empty": None}
    shares = [r["excess_share"] for r in found["ranked"]]
    assert 0 < sum(shares) <= 1 and shares[0] == pytest.approx(40 / 41)


def test_failed_examples_name_the_latest_failed_traces_of_the_arm_with_their_logs(
    receiver, queries
):
    """From a failing variant to traces people can open: the latest failed requests of that
    arm only, by trace id, each with its log records, errors first."""
    _incident_traffic(receiver.store)
    insert_rows(
        receiver.store,
        "otel_logs",
        [
            {"Timestamp": at(2000), "TraceId": "b0", "SeverityText": "INFO", "Body": "start"},
            {"Timestamp": at(2001), "TraceId": "b0", "SeverityText": "ERROR", "Body": "boom"},
            {"Timestamp": at(2001), "TraceId": "c0", "SeverityText": "ERROR", "Body": "other"},
        ],
    )
    examples = queries.failed_examples("checkout", "B", window(), limit=3)
    # the latest first; s1 is not among them: its root (the request's outcome) did not fail
    assert [e["trace_id"] for e in examples] == ["b0", "b1", "b2"]
    assert [(log["severity"], log["body"]) for log in examples[0]["logs"]] == [
        ("ERROR", "boom"),
        ("INFO", "start"),
    ]
    assert examples[1]["logs"] == [] and examples[0]["service"] == "frontend"
    assert queries.failed_examples("checkout", "control", window()) == []
