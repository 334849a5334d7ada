"""The cohort report over millions of synthetic spans in chDB, against a bare count() scan.

Spans are generated inside the engine (traces of four spans: two entry spans in two services,
two internal), each carrying two experiments; the entry spans carry the user
(``exptrace.unit``, one million users). The report is the full ``Queries.report``: per-unit
sums for the delta method, exact p50/p95/p99 with their unit-aware brackets, always-valid
comparisons; the baseline is
``SELECT count() FROM otel_traces`` over the same window, which scans the timestamp column.
Both run in the same process, interleaved, median of several rounds.
"""

from __future__ import annotations

from benchmarks.timing import run_script

SCRIPT = """
import statistics, sys, time
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.query import Queries, schema_parts, Window
from exptrace.query.core.registry import Experiment, Registry

path, spans, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = open_store("chdb://" + path)
ensure_schema(store, Schema(**schema_parts()))
t0 = time.perf_counter()
store.command('''
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
                         ServiceName, SpanAttributes, Duration, StatusCode, HttpRoute,
                         HttpStatusCode, Experiments)
SELECT
    now64(9) - toIntervalMillisecond(intDiv(number, 4) % 3000000) AS Timestamp,
    lower(hex(cityHash64(intDiv(number, 4)))) AS TraceId,
    lower(hex(cityHash64(number, 1))) AS SpanId,
    if(number % 4 = 0, '', lower(hex(cityHash64(number - number % 4, 1)))) AS ParentSpanId,
    ['GET /checkout', 'POST /pay', 'db.query', 'render'][number % 4 + 1] AS SpanName,
    if(number % 4 < 2, 'Server', 'Internal') AS SpanKind,
    ['frontend', 'checkout', 'checkout', 'frontend'][number % 4 + 1] AS ServiceName,
    if(number % 4 < 2, map('exptrace.unit', hex(intDiv(number, 4) % 1000000)), map())
        AS SpanAttributes,
    toUInt64(1e6 * (20 + cityHash64(number, 2) % 200
                    + if(intDiv(number, 4) % 2 = 1, 15, 0))) AS Duration,
    if(cityHash64(number, 3) % 1000 < if(intDiv(number, 4) % 2 = 1, 40, 20),
       'Error', 'Unset') AS StatusCode,
    ['/checkout', '/pay', '', ''][number % 4 + 1] AS HttpRoute,
    toUInt16(200) AS HttpStatusCode,
    map('checkout-v2', if(intDiv(number, 4) % 2 = 0, 'control', 'B'),
        'search-rerank', if(intDiv(number, 4) % 3 = 0, 'control', 'treatment')) AS Experiments
FROM numbers({spans:UInt64})
''', {"spans": spans})
print(f"generated {spans:,} spans in {time.perf_counter() - t0:.1f}s", flush=True)
Registry(store).create(Experiment("checkout-v2", variants={"control": 1, "B": 1}), "bench")
queries = Queries(store)
window = Window.parse(last=__import__("datetime").timedelta(hours=2))
count_sql = ("SELECT count() FROM otel_traces "
             "WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}")
assert store.query(count_sql, window.params()).scalar() == spans
report = queries.report("checkout-v2", window)
assert sum(c["requests"] for c in report["cohorts"]) == spans // 4
assert report["unit"]["analysis"] == "units"
samples = {"count": [], "report": []}
for _ in range(rounds):
    t = time.perf_counter()
    store.query(count_sql, window.params())
    samples["count"].append(time.perf_counter() - t)
    t = time.perf_counter()
    queries.report("checkout-v2", window)
    samples["report"].append(time.perf_counter() - t)
c, r = statistics.median(samples["count"]), statistics.median(samples["report"])
print(f"RESULT {c} {r} {report['comparisons'][0]['verdict']}")
"""


def run(quick: bool = False) -> dict[str, float]:
    spans, rounds = (1_000_000, 3) if quick else (10_000_000, 5)
    printed, (count, report, *verdict) = run_script(SCRIPT, "query", spans, rounds)
    print(printed)
    verdict = " ".join(verdict)
    count_s, report_s = float(count), float(report)
    ratio = report_s / count_s
    print(f"{spans:,} spans ({spans // 4:,} requests), median of {rounds} rounds")
    print(f"count() scan of the window: {count_s * 1e3:.0f} ms")
    print(f"full report (per unit, always valid): {report_s * 1e3:.0f} ms  ({verdict})")
    print(f"report / count(): {ratio:.2f}  (target <= 2)")
    return {"count_s": count_s, "report_s": report_s, "ratio": ratio}
