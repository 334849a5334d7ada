"""exptrace joins a database the Collector's ClickHouse exporter already writes to.

The exporter's tables are created and filled as a Collector does, then the real receiver
process starts on that store: it adopts the tables in place (the Collector's rows are
intact), stores its own telemetry there, the Collector's later inserts keep working and get
``Experiments`` too, and the query layer reports on all of them. Each step runs in its own
process, as the embedded engine allows one process per store.
"""

from __future__ import annotations

from tests.ingest.crashload import Receiver
from tests.ingest.isolated import run
from tests.ingest.otlp import post, span, traces

COLLECTOR_ROWS = """
(now64(9) - INTERVAL {age} SECOND, '{trace}', '{span}', '', '', 'POST /pay', 'Server',
 'legacy-shop', map('service.name', 'legacy-shop'), 'collector', '0.152.0',
 map('http.route', '/pay', 'http.response.status_code', '{status}'{extra}),
 2000000, 'Unset', '', [], [], [], [], [], [], [])"""

FINGERPRINT = (
    "SELECT count(), sum(cityHash64(Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName,"
    " ResourceAttributes, SpanAttributes, Duration, StatusCode)) FROM otel_traces "
    "WHERE ScopeName = 'collector' AND SpanId LIKE 'c0%'"
)


def collector_rows(prefix: str, statuses: list[int], experiment: str | None) -> str:
    """The exporter's traces insert with one Server span per status (trace ids from
    ``prefix``); ``experiment`` adds an ``exp.checkout`` attribute, as the stock
    BaggageSpanProcessor would."""
    extra = f", 'exp.checkout', '{experiment}'" if experiment else ""
    rows = ",".join(
        COLLECTOR_ROWS.format(
            age=i + 1,
            trace=f"{prefix}{i:030x}",
            span=f"{prefix}{i:014x}",
            status=status,
            extra=extra,
        )
        for i, status in enumerate(statuses)
    )
    return "collector.TRACES_INSERT.format(db='default') + " + repr(rows)


def test_exptrace_adopts_a_collector_database_in_place(tmp_path):
    store = tmp_path / "data" / "store"
    # 1. A Collector with create_schema: its tables, its rows (two tagged, one not).
    before = run(
        store,
        f"""
        for statement in collector.ALL:
            s.command(statement.format(db="default"))
        s.command({collector_rows("c0a", [503, 200], "B")})
        s.command({collector_rows("c0b", [200], None)})
        print(json.dumps(s.query({FINGERPRINT!r}).rows))
        """,
    )
    assert before[0][0] == 3

    # 2. exptrace starts on that database and stores telemetry from an SDK.
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    try:
        receiver.wait_ready()
        spans = [
            span(
                "POST /pay",
                {"http.route": "/pay", "exp.checkout": variant, "http.response.status_code": code},
            )
            for variant, code in (("B", 503), ("B", 200), ("control", 200))
        ]
        post(receiver, "traces", traces("new-shop", spans))
    finally:
        receiver.stop()
    assert receiver.process.returncode == 0, receiver.log()[-3000:]

    # 3. The Collector keeps inserting into the adopted tables.
    after = run(
        store,
        f"""
        old = s.query({FINGERPRINT!r}).rows
        s.command({collector_rows("c1a", [503], "control")})
        rows = s.query(
            "SELECT ServiceName, SpanAttributes['exp.checkout'] AS sent, Experiments, "
            "HttpRoute, HttpStatusCode FROM otel_traces ORDER BY ServiceName, SpanId"
        ).rows
        from exptrace.ingest.schema.migrate import open_readonly
        from exptrace.query import Queries, Window
        s.close()
        reader = open_readonly({f"chdb://{store}"!r})
        slis = Queries(reader).cohort_slis(Window.parse(), "checkout")
        print(json.dumps({{"old": old, "rows": rows, "slis": slis}}, default=str))
        """,
    )
    assert after["old"] == before, "the Collector's rows changed"
    for service, sent, experiments, route, status in after["rows"]:
        assert experiments == ({"checkout": sent} if sent else {}), (service, experiments)
        assert route == "/pay" and status in (200, 503)
    assert {r[0] for r in after["rows"]} == {"legacy-shop", "new-shop"}
    by_variant = {r["variant"]: (r["requests"], r["errors"]) for r in after["slis"]}
    # B: two Collector spans (one 503) + two exptrace spans (one 503);
    # control: one exptrace span + the Collector's later 503.
    assert by_variant == {"B": (4, 2), "control": (2, 1)}


def test_rows_written_before_adoption_keep_an_unknown_ingest_time(tmp_path):
    """Issue 14: the Collector's rows from before adoption had an ``IngestTime`` computed at
    read time (two reads 7 s apart differed), so their arrival lag grew forever. Now they hold
    0 (unknown), the same at every read, and the lag view leaves them out whatever the
    window; rows the Collector writes after adoption get the time of their insert."""
    store = tmp_path / "data" / "store"
    run(
        store,
        f"""
        for statement in collector.ALL:
            s.command(statement.format(db="default"))
        s.command({collector_rows("c0a", [200, 503], None)})
        print(1)
        """,
    )
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    try:
        receiver.wait_ready()
    finally:
        receiver.stop()
    assert receiver.process.returncode == 0, receiver.log()[-3000:]
    read = (
        "SELECT toString(IngestTime), toString(now64(3)) FROM otel_traces "
        "WHERE SpanId LIKE 'c0a%' ORDER BY SpanId"
    )
    first = run(store, f"print(json.dumps(s.query({read!r}).rows))")
    second = run(
        store,
        f"""
        s.command({collector_rows("c1a", [200], None)})
        rows = s.query({read!r}).rows
        later = s.query("SELECT IngestTime > now64(3) - INTERVAL 1 HOUR FROM otel_traces "
                        "WHERE SpanId LIKE 'c1a%'").rows
        from exptrace.query import Queries, Window
        lag = Queries(s).ingestion_lag(Window.parse("1970-01-01T00:00:00", "2200-01-01T00:00:00"))
        print(json.dumps({{"rows": rows, "later": later, "lag": lag}}, default=str))
        """,
    )
    assert second["rows"][0][1] > first[0][1]  # the clock moved between the reads
    assert (
        [r[0] for r in first] == [r[0] for r in second["rows"]] == ["1970-01-01 00:00:00.000"] * 2
    )
    assert second["later"] == [[True]]
    [arrival] = [r for r in second["lag"] if r["measure"] == "arrival"]
    assert (arrival["service"], arrival["items"], arrival["future_dated"]) == ("legacy-shop", 1, 0)
