"""One watch round over 100 running experiments in chDB, against a bare count() scan.

Spans are generated inside the engine over the last 24 hours, as in the query benchmark
(traces of four spans: two entry spans in two services, two internal; the entry spans carry
the user as ``exptrace.unit``), each trace in one of 100 registered, running experiments
(control and treatment). The first round rolls the day into unit groups (timed apart: the
write-once cost). One round is the full ``Watcher.round``: a roll pass, 100 always-valid
reports over each experiment's whole run (their unit groups read in one query), the
experiment-caused burn rates, the findings written. The baseline is ``SELECT count() FROM
otel_traces`` over a window holding the same spans (a scan of the timestamp column, as in
the query benchmark), in the same process; median of several rounds (after the first, whose
findings are all new, a round writes nothing).
"""

from __future__ import annotations

from benchmarks.timing import run_script

SCRIPT = """
import datetime as dt, statistics, sys, time
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.query import Queries, schema_parts
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.watch import Watcher

path, spans, rounds, experiments = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 100
store = open_store("chdb://" + path)
ensure_schema(store, Schema(**schema_parts()))
t0 = time.perf_counter()
store.command('''
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
                         ServiceName, SpanAttributes, Duration, StatusCode, HttpRoute,
                         HttpStatusCode, Experiments)
SELECT
    now64(9) - toIntervalMillisecond(intDiv(intDiv(number, 4) * 86400000,
                                            intDiv({spans:UInt64}, 4))) AS Timestamp,
    lower(hex(cityHash64(intDiv(number, 4)))) AS TraceId,
    lower(hex(cityHash64(number, 1))) AS SpanId,
    if(number % 4 = 0, '', lower(hex(cityHash64(number - number % 4, 1)))) AS ParentSpanId,
    ['GET /checkout', 'POST /pay', 'db.query', 'render'][number % 4 + 1] AS SpanName,
    if(number % 4 < 2, 'Server', 'Internal') AS SpanKind,
    ['frontend', 'checkout', 'checkout', 'frontend'][number % 4 + 1] AS ServiceName,
    if(number % 4 < 2, map('exptrace.unit', hex(intDiv(number, 4) % 1000000)), map())
        AS SpanAttributes,
    toUInt64(1e6 * (20 + cityHash64(number, 2) % 200)) AS Duration,
    if(cityHash64(number, 3) % 1000 < 20, 'Error', 'Unset') AS StatusCode,
    ['/checkout', '/pay', '', ''][number % 4 + 1] AS HttpRoute,
    toUInt16(200) AS HttpStatusCode,
    map(concat('exp-', toString(intDiv(number, 4) % 1000000 % {experiments:UInt64})),
        if(intDiv(intDiv(number, 4) % 1000000, {experiments:UInt64}) % 2 = 0, 'control', 'B'))
        AS Experiments
FROM numbers({spans:UInt64})
''', {"spans": spans, "experiments": experiments})
print(f"generated {spans:,} spans in {time.perf_counter() - t0:.1f}s", flush=True)
registry = Registry(store)
started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)).strftime("%Y-%m-%d %H:%M:%S")
for i in range(experiments):
    registry.create(Experiment(f"exp-{i}", variants={"control": 1, "B": 1}), "bench")
    registry.start(f"exp-{i}", "bench")
    registry.update(f"exp-{i}", "bench", start_time=started)
watcher = Watcher(Queries(store, registry), registry)
count_sql = ("SELECT count() FROM otel_traces WHERE Timestamp >= now64(9) - INTERVAL 26 HOUR "
             "AND Timestamp < now64(9) + INTERVAL 1 HOUR")
assert store.query(count_sql).scalar() == spans
t0 = time.perf_counter()
first = watcher.round()
first_s = time.perf_counter() - t0
assert first["experiments"] == experiments, first["experiments"]
samples = {"count": [], "round": []}
for _ in range(rounds):
    t = time.perf_counter()
    store.query(count_sql)
    samples["count"].append(time.perf_counter() - t)
    t = time.perf_counter()
    watcher.round()
    samples["round"].append(time.perf_counter() - t)
c, r = statistics.median(samples["count"]), statistics.median(samples["round"])
firing = len(watcher.status()["firing"])
print(f"RESULT {c} {r} {firing} {first_s}")
"""


def run(quick: bool = False) -> dict[str, float]:
    spans, rounds = (1_000_000, 3) if quick else (10_000_000, 5)
    printed, (count, round_, firing, first) = run_script(SCRIPT, "watch", spans, rounds)
    print(printed)
    count_s, round_s = float(count), float(round_)
    ratio = round_s / count_s
    print(
        f"{spans:,} spans over 24 h ({spans // 4:,} requests), 100 running experiments, "
        f"median of {rounds}"
    )
    print(f"first round, rolling the day into unit groups: {float(first):.1f} s")
    print(f"count() scan of the spans' window: {count_s * 1e3:.0f} ms")
    print(f"one watch round (100 reports since start, burn, findings): {round_s * 1e3:.0f} ms")
    print(f"round / count(): {ratio:.1f}; rules firing on this A/A data: {firing}")
    return {"count_s": count_s, "round_s": round_s, "ratio": ratio}
