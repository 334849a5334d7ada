"""The request facts ingest writes per trace (``exptrace_requests``), read by every report.

What a user would see if these failed: a request whose root (the edge) failed counted as a
success because the root and the tagged span arrived in different exports, or in the wrong
order; spans stored before an upgrade missing from every report after it.
"""

from __future__ import annotations

from exptrace.ingest.schema.ddl import SCHEMA_VERSION
from exptrace.ingest.schema.migrate import ensure_schema
from tests.query.test_views_report import arms_of, insert, span


def test_a_trace_split_across_exports_is_one_request_with_the_roots_outcome(receiver):
    store = receiver.store
    # t1: the failing root first, its tagged child in a later export
    insert(store, [span(1000, "t1", "a1", http=503, ms=300)])
    insert(store, [span(999, "t1", "a2", "a1", service="checkout", variant="B", unit="u1")])
    # t2: the tagged child first, the fine root later
    insert(store, [span(999, "t2", "b2", "b1", service="checkout", variant="B", unit="u2")])
    insert(store, [span(1000, "t2", "b1", ms=20)])
    # t3: a root tagged control, and a second export of the same trace tagged B: mixed
    insert(store, [span(900, "t3", "c1", variant="control", unit="u3")])
    insert(store, [span(899, "t3", "c2", "c1", service="checkout", variant="B", unit="u3")])
    # t4: the root carries only another experiment and fails; the child is tagged B
    insert(store, [{**span(800, "t4", "d1", http=500, ms=90), "Experiments": {"other": "A"}}])
    insert(store, [span(799, "t4", "d2", "d1", service="checkout", variant="B", unit="u4")])
    parts = store.query(
        "SELECT count() FROM exptrace_requests WHERE Experiment = 'checkout'"
    ).scalar()
    assert parts == 5  # one partial row per trace and export: the query merges them
    arms = arms_of(store)
    assert (arms["B"]["requests"], arms["B"]["errors"], arms["B"]["units"]) == (3, 2, 3)
    assert arms["B"]["quantiles"][2] == 300.0  # p99 is the failing root's 300 ms
    assert arms["B"]["mixed"] == 1 and arms["B"]["rooted"] == 4


def test_spans_stored_before_the_upgrade_are_in_the_reports_after_it(receiver):
    """A store at version 3 had no request facts: the upgrade fills them from the spans it
    holds, once (the view that writes them exists only afterwards)."""
    store = receiver.store
    insert(store, [span(500, f"old{i}", f"s{i}", variant="B", unit=f"u{i}", error=i < 3)
                   for i in range(10)])  # fmt: skip
    settings = store.query(
        "SELECT settings FROM exptrace_schema ORDER BY applied_at DESC LIMIT 1"
    ).scalar()
    store.command("DROP VIEW exptrace_requests_mv")
    store.command("TRUNCATE TABLE exptrace_requests")
    store.command(
        "INSERT INTO exptrace_schema (version, description, settings) "
        "VALUES (3, 'before request facts', {s:String})",
        {"s": settings},
    )
    assert arms_of(store) == {}  # what version 3 with this query layer would have shown
    assert ensure_schema(store, receiver.schema, change_settings=True) == 3
    arms = arms_of(store)
    assert (arms["B"]["requests"], arms["B"]["errors"]) == (10, 3)
    assert ensure_schema(store, receiver.schema) == SCHEMA_VERSION  # nothing more to do
    insert(store, [span(400, "new", "n1", variant="B", unit="u0")])  # the view writes again
    assert arms_of(store)["B"]["requests"] == 11
