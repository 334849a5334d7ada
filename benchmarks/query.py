"""The cohort report over a day of synthetic spans in chDB, against a bare count() scan.

Spans are generated inside the engine over the last 24 hours (a production day; traces of
four spans: two entry spans in two services, two internal), each carrying two experiments;
the entry spans carry the user (``exptrace.unit``; one user per four requests). The roller
then rolls the sealed minutes and hours into unit groups once (timed: the write-once cost).
The report is the full ``Queries.report`` over the day: unit groups (rolled periods, and the
request facts of the last minutes), always-valid comparisons with unit-level variance over
groups; the baseline is ``SELECT count() FROM otel_traces`` over the same window, which scans
the timestamp column. Both run in the same process, interleaved, median of several rounds;
the exact report (per-unit sums, exact quantiles over every request) runs once beside them.
Two sizes: N spans and 3N spans over a day, to show how each grows; and N spans over a week
(a long run: the roller's whole days are read instead of their hours and minutes).
"""

from __future__ import annotations

from benchmarks.timing import run_script

SCRIPT = """
import datetime as dt, statistics, sys, time
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.query import Queries, schema_parts, Window
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.rollup import Roller

path, spans, rounds, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = open_store("chdb://" + path)
ensure_schema(store, Schema(**schema_parts()))
t0 = time.perf_counter()
store.command('''
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
                         ServiceName, SpanAttributes, Duration, StatusCode, HttpRoute,
                         HttpStatusCode, Experiments)
SELECT
    now64(9) - toIntervalMillisecond(intDiv(intDiv(number, 4) * 86400000 * {days:UInt64},
                                            intDiv({spans:UInt64}, 4))) AS Timestamp,
    lower(hex(cityHash64(intDiv(number, 4)))) AS TraceId,
    lower(hex(cityHash64(number, 1))) AS SpanId,
    if(number % 4 = 0, '', lower(hex(cityHash64(number - number % 4, 1)))) AS ParentSpanId,
    ['GET /checkout', 'POST /pay', 'db.query', 'render'][number % 4 + 1] AS SpanName,
    if(number % 4 < 2, 'Server', 'Internal') AS SpanKind,
    ['frontend', 'checkout', 'checkout', 'frontend'][number % 4 + 1] AS ServiceName,
    if(number % 4 < 2, map('exptrace.unit', hex(intDiv(number, 4) % intDiv({spans:UInt64}, 16))),
       map()) AS SpanAttributes,
    toUInt64(1e6 * (20 + cityHash64(number, 2) % 200
                    + if(intDiv(number, 4) % 2 = 1, 15, 0))) AS Duration,
    if(cityHash64(number, 3) % 1000 < if(intDiv(number, 4) % 2 = 1, 40, 20),
       'Error', 'Unset') AS StatusCode,
    ['/checkout', '/pay', '', ''][number % 4 + 1] AS HttpRoute,
    toUInt16(200) AS HttpStatusCode,
    map('checkout-v2', if(intDiv(number, 4) % 2 = 0, 'control', 'B'),
        'search-rerank', if(intDiv(number, 4) % 3 = 0, 'control', 'treatment')) AS Experiments
FROM numbers({spans:UInt64})
''', {"spans": spans, "days": days})
print(f"generated {spans:,} spans in {time.perf_counter() - t0:.1f}s", flush=True)
Registry(store).create(Experiment("checkout-v2", variants={"control": 1, "B": 1}), "bench")
queries = Queries(store)
t0 = time.perf_counter()
rolled = Roller(store, queries.engine).roll()
roll_s = time.perf_counter() - t0
window = Window.parse(last=dt.timedelta(days=days, hours=1))
count_sql = ("SELECT count() FROM otel_traces "
             "WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}")
assert store.query(count_sql, window.params()).scalar() == spans
report = queries.report("checkout-v2", window)
exact = queries.report("checkout-v2", window, exact=True)
for got in (report, exact):
    assert sum(c["requests"] for c in got["cohorts"]) == spans // 4, got["cohorts"]
    assert got["unit"]["analysis"] == "units"
assert report["data"]["rolled"], report["data"]
samples = {"count": [], "report": []}
for _ in range(rounds):
    t = time.perf_counter()
    store.query(count_sql, window.params())
    samples["count"].append(time.perf_counter() - t)
    t = time.perf_counter()
    queries.report("checkout-v2", window)
    samples["report"].append(time.perf_counter() - t)
t = time.perf_counter()
queries.report("checkout-v2", window, exact=True)
exact_s = time.perf_counter() - t
c, r = statistics.median(samples["count"]), statistics.median(samples["report"])
p50 = [(x["p50_ms"], y["p50_ms"]) for x, y in zip(report["cohorts"], exact["cohorts"])]
error = max(abs(a / b - 1) for a, b in p50)
print(f"RESULT {c} {r} {exact_s} {roll_s} {rolled['minutes']} {rolled['hours']} "
      f"{rolled['days']} {error} "
      f"{report['comparisons'][0]['verdict']}")
"""


def _one(spans: int, rounds: int, days: int = 1) -> dict[str, float]:
    printed, (count, report, exact, roll, minutes, hours, whole_days, error, *verdict) = run_script(
        SCRIPT, "query", spans, rounds, days
    )
    print(printed)
    count_s, report_s, exact_s, roll_s = map(float, (count, report, exact, roll))
    ratio = report_s / count_s
    over = "24 h" if days == 1 else f"{days} days"
    print(f"{spans:,} spans over {over} ({spans // 4:,} requests), median of {rounds} rounds")
    print(
        f"roll once (write-once cost): {roll_s:.1f} s for {minutes} minutes, {hours} hours "
        f"and {whole_days} days"
    )
    print(f"count() scan of the window: {count_s * 1e3:.0f} ms")
    print(f"report (unit groups, always valid): {report_s * 1e3:.0f} ms  ({' '.join(verdict)})")
    print(f"report / count(): {ratio:.2f}  (target <= 2)")
    print(
        f"exact report (per unit, exact quantiles): {exact_s * 1e3:.0f} ms "
        f"({exact_s / count_s:.0f}x count()); p50 differs by {float(error):.2%} at most"
    )
    return {"count_s": count_s, "report_s": report_s, "ratio": ratio, "exact_s": exact_s}


def run(quick: bool = False, spans: int | None = None) -> dict[str, dict[str, float]]:
    """N and 3N spans over a day and N over a week; or, given ``spans``, that day alone."""
    rounds = 3 if quick else 5
    if spans is not None:
        return {str(spans): _one(spans, rounds)}
    spans = 1_000_000 if quick else 10_000_000
    out = {str(n): _one(n, rounds) for n in (spans, 3 * spans)}
    out[f"{spans} over a week"] = _one(spans, rounds, days=7)
    return out
