"""Incident attribution over 100,000 experiment ids in chDB, against a bare count() scan.

Requests are generated inside the engine over the last 50 minutes, one span each: 300,000
spread over 100,000 small experiments ``many-N`` (two users each, one request in a hundred
failing alike in both arms), and 20,000 from 2,000 users in ``checkout-v2``, whose B fails
five times as often as its control. One call is the full ``Queries.incident`` over the hour
(every treatment weighed, Holm over those tested, the rows of one page built), at the
default page (200 rows) and at 20 and 2,000 rows, to show what the page costs; the
baseline is ``SELECT count() FROM otel_traces`` over the same window. Same process,
interleaved, median of several rounds.
"""

from __future__ import annotations

from benchmarks.timing import run_script

SCRIPT = """
import datetime as dt, statistics, sys, time
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.query import Queries, schema_parts, Window

path, ids, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = open_store("chdb://" + path)
ensure_schema(store, Schema(**schema_parts()))
GENERATE = '''
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
                         ServiceName, SpanAttributes, Duration, StatusCode, HttpRoute,
                         HttpStatusCode, Experiments)
WITH
    number % {users:UInt64} AS user,
    if(cityHash64({seed:UInt64}, user, 3) % 2 = 0, 'control', 'B') AS variant
SELECT
    now64(9) - toIntervalMillisecond(cityHash64({seed:UInt64}, number, 1) % 3000000)
        AS Timestamp,
    lower(hex(cityHash64({seed:UInt64}, number))) AS TraceId,
    lower(hex(cityHash64({seed:UInt64}, number, 2))) AS SpanId,
    '' AS ParentSpanId, 'GET /checkout' AS SpanName, 'Server' AS SpanKind,
    'frontend' AS ServiceName,
    map('exptrace.unit', hex(cityHash64({seed:UInt64}, user))) AS SpanAttributes,
    toUInt64(1e6 * (20 + cityHash64({seed:UInt64}, number, 4) % 200)) AS Duration,
    if(cityHash64({seed:UInt64}, number, 5) % 1000
           < if(variant = 'B', {b_per_mille:UInt64}, 10), 'Error', 'Unset') AS StatusCode,
    '/checkout' AS HttpRoute, toUInt16(200) AS HttpStatusCode,
    map(if({ids:UInt64} = 1, 'checkout-v2', concat('many-', toString(user % {ids:UInt64}))),
        variant) AS Experiments
FROM numbers({requests:UInt64})
'''
t0 = time.perf_counter()
store.command(GENERATE, {"seed": 1, "requests": 3 * ids, "users": 2 * ids, "ids": ids,
                         "b_per_mille": 10})
store.command(GENERATE, {"seed": 2, "requests": 20000, "users": 2000, "ids": 1,
                         "b_per_mille": 50})
print(f"generated {3 * ids + 20000:,} spans in {time.perf_counter() - t0:.1f}s", flush=True)
queries = Queries(store)
window = Window.parse(last=dt.timedelta(hours=1))
count_sql = ("SELECT count() FROM otel_traces "
             "WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}")
assert store.query(count_sql, window.params()).scalar() == 3 * ids + 20000
found = queries.incident(window)
assert found["ranked"][0]["experiment"] == "checkout-v2" and found["suspects"], found["verdict"]
pages = (20, 200, 2000)
samples = {name: [] for name in ("count", *pages)}
for _ in range(rounds):
    t = time.perf_counter()
    store.query(count_sql, window.params())
    samples["count"].append(time.perf_counter() - t)
    for limit in pages:
        t = time.perf_counter()
        queries.incident(window, limit=limit)
        samples[limit].append(time.perf_counter() - t)
m = {name: statistics.median(values) for name, values in samples.items()}
print(f"RESULT {found['overflow']['ranked']['total']} {found['verdict'].replace(' ', '_')} "
      + " ".join(str(m[name]) for name in ("count", *pages)))
"""


def run(quick: bool = False) -> dict[str, float]:
    ids, rounds = (10_000, 3) if quick else (100_000, 5)
    printed, (treatments, verdict, count, *calls) = run_script(SCRIPT, "incident", ids, rounds)
    print(printed)
    count_s = float(count)
    page_20, page_200, page_2000 = map(float, calls)
    print(
        f"{ids:,} experiment ids and checkout-v2 in the last hour ({3 * ids + 20_000:,} spans), "
        f"median of {rounds} rounds; {int(treatments):,} treatments ranked; verdict "
        f"{verdict.replace('_', ' ')}"
    )
    print(f"count() scan of the window: {count_s * 1e3:.0f} ms")
    for limit, seconds in ((20, page_20), (200, page_200), (2000, page_2000)):
        print(
            f"incident attribution, {limit:,} rows a page: {seconds * 1e3:.0f} ms "
            f"({seconds / count_s:.0f}x count())"
        )
    print("target: under a second, flat in the rows shown")
    return {"count_s": count_s, "page_20_s": page_20, "page_200_s": page_200}
