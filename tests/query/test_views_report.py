"""Contract tests of the report's SQL (``sql/report_*.sql``): hand-written rows in, known
answers out, on the real schema in chDB.

What a user would see if these failed: an error that the edge answered counted as success
because only a downstream span carried the tag; a report that changes between two runs on the
same data; a trace counted in two windows; one user's twenty requests counted as twenty users.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from exptrace.query import Queries, Window
from exptrace.query.core.report import Report, _arm
from exptrace.query.core.sqlfiles import load
from exptrace.query.errors import MissingParameters
from tests.query.simstats import arm_stats
from tests.query.synth import insert_clustered

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def span(
    ago_ms: int,
    trace: str,
    span_id: str,
    parent: str = "",
    *,
    kind: str = "Server",
    service: str = "frontend",
    unit: str = "",
    ms: float = 10.0,
    error: bool = False,
    http: int = 200,
    variant: str = "",
) -> dict:
    """One stored span, as the ingest views would have written it."""
    return {
        "Timestamp": (NOW - dt.timedelta(milliseconds=ago_ms)).isoformat(sep=" "),
        "TraceId": trace,
        "SpanId": span_id,
        "ParentSpanId": parent,
        "SpanName": "GET /",
        "SpanKind": kind,
        "ServiceName": service,
        "SpanAttributes": {"exptrace.unit": unit} if unit else {},
        "Duration": int(ms * 1e6),
        "StatusCode": "Error" if error else "Unset",
        "HttpStatusCode": http,
        "Experiments": {"checkout": variant} if variant else {},
    }


@pytest.fixture
def store(receiver):
    return receiver.store


def insert(store, rows: list[dict]) -> None:
    data = "\n".join(json.dumps(r) for r in rows).encode()
    store.insert_raw("otel_traces", data, "JSONEachRow", {})


def window() -> Window:
    return Window.parse(NOW - dt.timedelta(minutes=30), NOW + dt.timedelta(seconds=1))


def arms_of(store, **params) -> dict[str, dict]:
    sql = load("report_arms")
    values = {
        **window().params(),
        "experiment": "checkout",
        "unit_attribute": "exptrace.unit",
        "trace_horizon_seconds": 300,
        "unit_attributes": {},
        "bracket_z": 1.96,
        **params,
    }
    return {r["variant"]: r for r in store.query(sql.text, sql.bind(values)).dicts()}


def test_the_request_is_the_trace_root_whichever_span_carries_the_tag(store):
    """Only the downstream entry span is tagged; the frontend (root) fails or is slow: the
    request's outcome and latency are the root's. A trace that started before the window is
    not counted in it, even though its tagged span falls inside."""
    insert(
        store,
        [
            # t1: root fails with 503 (status Unset), child tagged B and fine
            span(1000, "t1", "a1", http=503, ms=300),
            span(999, "t1", "a2", "a1", service="checkout", variant="B", unit="u1", ms=5),
            # t2: root fine, child tagged B
            span(1000, "t2", "b1", ms=20),
            span(999, "t2", "b2", "b1", service="checkout", variant="B", unit="u1", ms=5),
            # t3: control, root is tagged itself, error by status
            span(900, "t3", "c1", variant="control", unit="u2", error=True, ms=40),
            # t4: started 32 minutes ago (before the window, within the trace horizon of
            # 5 minutes); its tagged child is inside the window
            span(32 * 60_000, "t4", "d1", ms=10),
            span(29 * 60_000, "t4", "d2", "d1", variant="control", unit="u3", ms=10),
        ],
    )
    arms = arms_of(store)
    assert (arms["B"]["requests"], arms["B"]["errors"], arms["B"]["units"]) == (2, 1, 1)
    assert arms["B"]["quantiles"][2] == pytest.approx(300.0)  # p99: the root's 300 ms
    assert (arms["control"]["requests"], arms["control"]["errors"]) == (1, 1)
    assert arms["control"]["rooted"] == 1


def test_contamination_is_counted_and_kept_out_and_ties_break_the_same_way(store):
    """A trace whose spans disagree on the variant is counted as mixed and left out; two
    spans with equal timestamps give the same answer on every run."""
    rows = [
        span(500, "m1", "r1", variant="control", unit="u1"),
        span(500, "m1", "r2", "r1", service="checkout", variant="B", unit="u1"),
    ]
    for i in range(200):  # equal timestamps, different outcomes: ties break on a SpanId hash
        rows += [
            span(100, f"tie{i}", f"{i:04d}x", variant="B", unit=f"w{i}", error=True, ms=1),
            span(100, f"tie{i}", f"{i:04d}y", variant="B", unit=f"w{i}", ms=2),
        ]
    insert(store, rows)
    first = arms_of(store)
    assert first["B"]["mixed"] == 1  # counted under its smallest variant, left out
    assert first["B"]["requests"] == 200 and 0 < first["B"]["errors"] < 200
    for _ in range(3):
        assert arms_of(store) == first


def test_units_come_from_the_unit_attribute_and_requests_without_one_are_left_out(store):
    """Once any request carries a unit, those without one are counted apart, not as units
    of their own (each would be a unit of one request, which understates the variance)."""
    insert(
        store,
        [span(100 + i, f"u{i}", f"s{i}", variant="B", unit="same", error=i < 3) for i in range(10)]
        + [span(100 + i, f"n{i}", f"z{i}", variant="control") for i in range(4)],
    )
    arms = arms_of(store)
    assert arms["B"]["units"] == 1 and arms["B"]["identified_units"] == 1
    assert arms["B"]["requests_sq"] == 100 and arms["B"]["errors_m"] == 30
    assert arms["B"]["unidentified_requests"] == 0
    assert arms["control"]["units"] == arms["control"]["requests"] == 0
    assert arms["control"]["unidentified_requests"] == 4


def test_without_any_unit_each_trace_is_a_unit(store):
    insert(store, [span(100 + i, f"n{i}", f"z{i}", variant="control") for i in range(4)])
    control = arms_of(store)["control"]
    assert (control["units"], control["identified_units"], control["requests"]) == (4, 0, 4)
    assert control["unidentified_requests"] == 0


def test_the_engine_sums_what_the_numpy_reference_sums(store):
    """The simulations judge ``simstats.arm_stats``; here the engine's arms and brackets
    equal it on the same generated rows."""
    insert_clustered(store, units=400, seed=5)
    rows = store.query(
        "SELECT Experiments['sim-0'] AS v, SpanAttributes['exptrace.unit'] AS u, "
        "StatusCode = 'Error' AS f, Duration / 1e6 AS ms FROM otel_traces"
    ).dicts()
    queries = Queries(store)
    report = queries.report("sim-0", Window.parse(last=dt.timedelta(hours=1)))
    engine = Report(queries.engine, "sim-0", Window.parse(last=dt.timedelta(hours=1)))
    engine_arms = {r["variant"]: _arm(r) for r in queries.engine.run("report_arms", engine.params)}
    for variant in ("control", "treatment"):
        pick = [r for r in rows if r["v"] == variant]
        reference = arm_stats(
            variant,
            np.array([r["u"] for r in pick]),
            np.array([bool(r["f"]) for r in pick]),
            np.array([r["ms"] for r in pick]),
        )
        got = engine_arms[variant]
        assert (got.units, got.requests, got.errors) == (
            reference.units,
            reference.requests,
            reference.errors,
        )
        assert (got.requests_sq, got.errors_sq, got.errors_m) == (
            reference.requests_sq,
            reference.errors_sq,
            reference.errors_m,
        )
        for level, q in reference.quantiles.items():
            mine = got.quantiles[level]
            assert mine.value == pytest.approx(q.value)
            assert (mine.below, mine.below_sq, mine.below_m) == (q.below, q.below_sq, q.below_m)
            assert mine.bracket == pytest.approx(q.bracket)
    assert {c["variant"] for c in report["cohorts"]} == {"control", "treatment"}


def test_a_query_without_its_declared_parameters_is_refused():
    sql = load("report_arms")
    assert {"start", "end", "experiment", "unit_attribute"} <= set(sql.parameters)
    with pytest.raises(MissingParameters, match="experiment"):
        sql.bind({"start": "x", "end": "y"})
