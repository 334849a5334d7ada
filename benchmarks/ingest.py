"""End-to-end ingest (OTLP/gRPC -> durable ack -> rows in chDB) against the raw engine.

Requests are encoded once by the official OpenTelemetry SDK encoder, each one distinct (the
receiver recognises an identical export re-sent within its deduplication window and does not
store it again), then sent by raw gRPC clients in other processes (the SDK exporter itself
tops out near 20k spans/s per process on encoding). Throughput is spans per receiver
CPU-second; the baseline is the raw chDB insert of the very same requests (length-delimited,
through the same landing table and views) in the same run. Also: acknowledgement latency
p50/p99 and the receiver's peak RSS; and the same load through a receiver writing to a
ClickHouse server (``--store clickhouse://...``; here tests/chhttp.py's HTTP interface over
chDB, in a process of its own): the receiver's own CPU per span, with its database's work
elsewhere (as a collector's rate before its database is), and its memory without the engine.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.timing import table
from tests.ingest.storeproc import StoreProcess

SERVER = "tests/chhttp.py's ClickHouse HTTP interface over chDB, in a process of its own"

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def encode_requests(count: int, spans_per_request: int) -> list[bytes]:
    """Requests from real SDK spans (recent timestamps: TTL drops old rows silently)."""
    from opentelemetry import context as otel_context
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from exptrace.propagation import ExperimentSpanProcessor, with_assignments

    out = []
    for i in range(count):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": f"bench-{i % 4}"}))
        provider.add_span_processor(ExperimentSpanProcessor())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("bench")
        token = otel_context.attach(with_assignments({"checkout-v2": "AB"[i % 2]}))
        try:
            for j in range(spans_per_request):
                with tracer.start_as_current_span(
                    "GET /checkout" if j % 5 == 0 else f"step-{j % 5}",
                    attributes={
                        "http.route": "/checkout",
                        "http.response.status_code": 200,
                        "n": j,
                    },
                ):
                    pass
        finally:
            otel_context.detach(token)
        out.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_PRELUDE = """
import json, sys, time, resource
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.ingest.log.flusher import INSERT_SETTINGS, length_delimited
from exptrace.ingest.log._protoschema import otlp_schema, TRACES
from exptrace.ingest.log.wal import Record, Signal
data_dir, requests_file, per_insert = sys.argv[1], sys.argv[2], int(sys.argv[3])
variants = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
blob = Path(requests_file).read_bytes()
requests, offset = [], 0
while offset < len(blob):
    n = int.from_bytes(blob[offset:offset + 4], "little"); offset += 4
    requests.append(blob[offset:offset + n]); offset += n
store = open_store("chdb://" + data_dir)
ensure_schema(store, Schema())
"""
"""What both engine scripts start with: the encoded requests read back, the store set up."""

RAW_SCRIPT = (
    _PRELUDE
    + """
settings = dict(INSERT_SETTINGS)  # as the receiver inserts
start = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
thread = 0.0
for i in range(0, len(requests), per_insert):
    chunk = [Record(Signal.TRACES, r) for r in requests[i:i + per_insert]]
    token = {"insert_deduplication_token": f"raw-{i}"}  # replayed requests are not duplicates
    data = length_delimited(chunk)
    began = time.thread_time()
    store.insert_protobuf("otel_traces_landing", data, otlp_schema(), TRACES, {**settings, **token})
    thread += time.thread_time() - began
wall = time.perf_counter() - t0
end = resource.getrusage(resource.RUSAGE_SELF)
cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
rows = store.query("SELECT count() FROM otel_traces").scalar()
print(f"{rows} {cpu} {wall} {thread}")
"""
)


@dataclass(frozen=True)
class RawRun:
    rows: int
    cpu: float
    """Process CPU seconds of the inserts (the engine's background threads included)."""
    wall: float
    thread: float
    """CPU seconds of the inserting thread inside the insert calls, as the flusher counts."""


def raw_engine(requests: list[bytes], per_insert: int, work: Path) -> RawRun:
    """Inserting ``requests`` straight into a new chDB store."""
    blob = work / "requests.bin"
    if not blob.exists():
        blob.write_bytes(b"".join(len(r).to_bytes(4, "little") + r for r in requests))
    store = work / f"raw-store-{len(list(work.glob('raw-store-*')))}"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            RAW_SCRIPT,
            str(store),
            str(blob),
            str(per_insert),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    shutil.rmtree(store, ignore_errors=True)
    rows, cpu, wall, thread = out.stdout.split()
    return RawRun(int(rows), float(cpu), float(wall), float(thread))


CHAINED = ("otel_traces_trace_id_ts_mv", "exptrace_requests_mv")
"""The views fed by otel_traces (otel_traces_mv feeds them all)."""
VARIANTS = {
    "all": (),
    "no_trace_id_ts": ("otel_traces_trace_id_ts_mv",),
    "no_requests": ("exptrace_requests_mv",),
    "no_chained": CHAINED,
    "landing_only": ("otel_traces_mv", *CHAINED),
}
"""Views detached for each kind of insert the view costs are measured with."""

VIEWS_SCRIPT = (
    _PRELUDE
    + """
def insert(name, data, token):
    for view in variants[name]:
        store.command(f"DETACH TABLE {view}")
    began = time.thread_time()
    store.insert_protobuf("otel_traces_landing", data, otlp_schema(), TRACES,
                          {**INSERT_SETTINGS, "insert_deduplication_token": token})
    spent = time.thread_time() - began
    for view in reversed(variants[name]):
        store.command(f"ATTACH TABLE {view}")
    return spent
for name in variants:  # untimed: what the first insert of a kind pays once (dictionaries...)
    insert(name, length_delimited([Record(Signal.TRACES, requests[0])]), f"warm-{name}")
spent = dict.fromkeys(variants, 0.0)
for chunk_number, i in enumerate(range(0, len(requests), per_insert)):
    data = length_delimited([Record(Signal.TRACES, r) for r in requests[i:i + per_insert]])
    order = list(variants) if chunk_number % 2 == 0 else list(reversed(variants))
    for name in order:
        spent[name] += insert(name, data, f"{name}-{i}")
print(json.dumps(spent))
"""
)


def view_costs(requests: list[bytes], per_insert: int, work: Path, spans: int) -> list[tuple]:
    """Each view's cost: the inserting thread's CPU with the view and without it (the views
    that read otel_traces detached before otel_traces_mv, which feeds them). The kinds of
    insert alternate chunk by chunk in one process and store, so the machine's load falls on
    each alike."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            VIEWS_SCRIPT,
            str(work / "views-store"),
            str(work / "requests.bin"),
            str(per_insert),
            json.dumps(VARIANTS),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    cpu = json.loads(out.stdout.strip().splitlines()[-1])
    parts = [
        ("Protobuf parse into the Null landing table", cpu["landing_only"]),
        (
            "otel_traces_mv: spans, attributes, redaction, write otel_traces",
            cpu["no_chained"] - cpu["landing_only"],
        ),
        ("otel_traces_trace_id_ts_mv", cpu["all"] - cpu["no_trace_id_ts"]),
        ("exptrace_requests_mv", cpu["all"] - cpu["no_requests"]),
    ]
    total = cpu["all"]
    rows = [("part of the raw insert (thread CPU)", "CPU-s", "share", "us/span")]
    rows += [(n, f"{v:.2f}", f"{v / total:.0%}", f"{v / spans * 1e6:.1f}") for n, v in parts]
    rows.append(("all views", f"{total:.2f}", "100%", f"{total / spans * 1e6:.1f}"))
    return rows


def _client(port: int, requests: list[bytes], out: mp.Queue) -> None:
    import grpc

    latencies = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(TRACE_METHOD)
        for payload in requests:
            start = time.perf_counter()
            export(payload, timeout=60)
            latencies.append(time.perf_counter() - start)
    out.put(latencies)


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line and not line.startswith("#")
    }


def _metric(port: int, name: str) -> float:
    return _metrics(port).get(name, 0.0)


def _stage_cpu(port: int) -> Counter[str]:
    """The receiver's own per-stage thread CPU counters (``exptrace_ingest_cpu_seconds_total``)."""
    prefix = 'exptrace_ingest_cpu_seconds_total{stage="'
    return Counter(
        {k[len(prefix) : -2]: v for k, v in _metrics(port).items() if k.startswith(prefix)}
    )


def _threads_cpu(pid: int) -> Counter[str]:
    """CPU seconds of each live thread of ``pid``, summed by thread name (``comm``)."""
    out: Counter[str] = Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[name] += (int(fields[11]) + int(fields[12])) / tick
    return out


REST_FIELDS = ("VmRSS:", "RssAnon:", "RssFile:")
"""The resident set at rest, and its private and file-backed parts (``/proc/<pid>/status``)."""


def _rss_mib(pid: int, field: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def end_to_end(
    requests: list[bytes],
    clients: int,
    work: Path,
    env: dict[str, str] | None = None,
    store: StoreProcess | None = None,
) -> dict:
    """The receiver in a process of its own under ``clients`` gRPC clients: its CPU, wall
    times, memory and stage counters; ``store``: it writes to that ClickHouse server (whose
    CPU is measured apart) instead of the engine in its own process."""
    grpc_port, http_port = _free_port(), _free_port()
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exptrace.ingest.cli",
            "--data-dir",
            str(work / "e2e"),
            "--grpc",
            f"127.0.0.1:{grpc_port}",
            "--http",
            f"127.0.0.1:{http_port}",
            *(("--store", store.url) if store else ()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "EXPTRACE_FLUSH_INTERVAL": "1.0",
            "EXPTRACE_WAL_SEGMENT_BYTES": os.environ.get(
                "EXPTRACE_WAL_SEGMENT_BYTES", str(32 << 20)
            ),
            **(env or {}),
        },
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        time.sleep(2)  # at rest: started, ready, idle
        rest = {field: _rss_mib(receiver.pid, field) for field in REST_FIELDS}
        stages_before = _stage_cpu(http_port)
        threads_before = _threads_cpu(receiver.pid)
        cpu_before = _cpu_seconds(receiver.pid)
        server_before = _cpu_seconds(store.process.pid) if store and store.process else 0.0
        queue: mp.Queue = mp.Queue()
        per_client = [requests[i::clients] for i in range(clients)]
        procs = [mp.Process(target=_client, args=(grpc_port, chunk, queue)) for chunk in per_client]
        start = time.perf_counter()
        for p in procs:
            p.start()
        latencies = [lat for _ in procs for lat in queue.get()]
        for p in procs:
            p.join()
        acked = time.perf_counter() - start
        expected = len(requests)
        while (
            _metric(http_port, 'exptrace_ingest_insert_requests_total{signal="traces"}') < expected
        ):
            time.sleep(0.05)
        queryable = time.perf_counter() - start
        cpu = _cpu_seconds(receiver.pid) - cpu_before
        server_cpu = (
            _cpu_seconds(store.process.pid) - server_before if store and store.process else 0.0
        )
        threads = _threads_cpu(receiver.pid)
        threads.subtract(threads_before)
        stages = _stage_cpu(http_port)
        stages.subtract(stages_before)
        rss = _rss_mib(receiver.pid, "VmHWM:")
        inserts = _metric(http_port, 'exptrace_ingest_inserts_total{signal="traces"}')
        time.sleep(5)  # at rest again: what the load left behind
        after = {field: _rss_mib(receiver.pid, field) for field in REST_FIELDS}
        engine_mapped = "_chdb" in Path(f"/proc/{receiver.pid}/maps").read_text()
    finally:
        receiver.terminate()
        receiver.wait(120)
    latencies.sort()
    return {
        "cpu": cpu,
        "server_cpu": server_cpu,
        "engine_mapped": engine_mapped,
        "acked_wall": acked,
        "queryable_wall": queryable,
        "rss_mib": rss,
        "rest": rest,
        "after": after,
        "inserts": inserts,
        "stages": stages,
        "threads": threads,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
    }


DOOR_PARTS = ("door_decode", "door_screen", "door_dedup", "wal_append")
GRPC_THREADS = ("grpc", "event_engine", "default-executo", "resolver-execu")
"""Names (prefixes) of gRPC core's own threads; the engine's threads have ClickHouse's names."""
RENAMED = "Unknown"
"""What the engine renames a Python thread to once it ran a query in it (the flusher's)."""


def breakdown(e2e: dict, spans: int, main_thread: str, insert: str) -> list[tuple]:
    """Where each receiver CPU-second went: the receiver's own stage counters, then the
    threads of gRPC core and of the engine (by name), then what nothing accounts for;
    ``insert`` names the flusher's insert (into the engine, or sent to a server)."""
    stages, threads, total = e2e["stages"], e2e["threads"], e2e["cpu"]
    python = sum(v for k, v in threads.items() if k in (main_thread, RENAMED))
    grpc_core = sum(v for k, v in threads.items() if k.startswith(GRPC_THREADS))
    engine = sum(threads.values()) - python - grpc_core
    own = sum(v for k, v in stages.items() if k != "door_grpc")
    rows = [
        ("door: decode (upb)", stages["door_decode"]),
        ("door: screening + canonical re-encode", stages["door_screen"]),
        ("door: dedup digest (+ fsync wait)", stages["door_dedup"]),
        (
            "door: rest of the gRPC handler",
            stages["door_grpc"] - sum(stages[k] for k in DOOR_PARTS),
        ),
        ("log: append (MAC + write)", stages["wal_append"]),
        ("log: fsync thread", stages["wal_sync"]),
        ("flusher: read + check segment", stages["flusher_read"]),
        ("flusher: length-delimited join", stages["flusher_encode"]),
        (insert, stages["engine_insert"]),
        ("engine's own threads (merges...)", engine),
        ("gRPC core threads (HTTP/2, polling)", grpc_core),
        (
            "other Python-thread time (GC, HTTP, idle loops)",
            python - own - (stages["door_grpc"] - sum(stages[k] for k in DOOR_PARTS)),
        ),
        ("threads that ended (not attributable)", total - sum(threads.values())),
    ]
    out = [("stage", "CPU-s", "share", "us/span")]
    out += [(n, f"{v:.2f}", f"{v / total:.0%}", f"{v / spans * 1e6:.1f}") for n, v in rows]
    out.append(("receiver total", f"{total:.2f}", "100%", f"{total / spans * 1e6:.1f}"))
    return out


def run(quick: bool = False) -> dict[str, float]:
    count, spans, repeat, clients = (40, 250, 2, 2) if quick else (100, 500, 6, 3)
    print(
        f"encoding {count * repeat} requests x {spans} spans with the OpenTelemetry SDK encoder...",
        flush=True,
    )
    requests = encode_requests(count * repeat, spans)
    total = count * spans * repeat
    work = Path(tempfile.mkdtemp(prefix="exptrace-bench-"))
    server = StoreProcess(work / "server")
    try:
        raw = raw_engine(requests, per_insert=count, work=work)
        assert raw.rows == total, f"raw engine stored {raw.rows} of {total} spans"
        e2e = end_to_end(requests, clients, work)
        views = view_costs(requests, count, work, total)
        server.start()
        remote = end_to_end(requests, clients, work / "remote", store=server)
        stored = server.rows("SELECT count() FROM otel_traces")[0][0]
        assert stored == total, f"the server stored {stored} of {total} spans"
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    raw_rate = total / raw.cpu
    e2e_rate = total / e2e["cpu"]
    remote_rate = total / remote["cpu"]
    print(f"\n{total} spans ({count * repeat} requests of {spans}), {clients} client processes")
    print(
        table(
            [
                ("path", "spans/CPU-s", "wall s", "notes"),
                (
                    "raw chDB insert (baseline)",
                    f"{raw_rate:,.0f}",
                    f"{raw.wall:.2f}",
                    f"{count} requests per insert",
                ),
                (
                    "exptrace end-to-end, engine in the receiver",
                    f"{e2e_rate:,.0f}",
                    f"{e2e['queryable_wall']:.2f}",
                    f"receiver CPU {e2e['cpu']:.2f}s, acked in {e2e['acked_wall']:.2f}s, "
                    f"{e2e['inserts']:.0f} inserts",
                ),
                (
                    "exptrace end-to-end, store on a server",
                    f"{remote_rate:,.0f}",
                    f"{remote['queryable_wall']:.2f}",
                    f"receiver CPU {remote['cpu']:.2f}s (the server's "
                    f"{remote['server_cpu']:.2f}s apart), acked in {remote['acked_wall']:.2f}s, "
                    f"{remote['inserts']:.0f} inserts",
                ),
            ]
        )
    )
    ratio = e2e_rate / raw_rate
    print(f"end-to-end / raw engine, per CPU-second: {ratio:.2f}  (target >= 0.70)")
    print(
        f"end-to-end spans per receiver CPU-second: {e2e_rate:,.0f} with the engine in the "
        f"receiver, {remote_rate:,.0f} with the store on a server (the Go Collector's "
        "137,000 is before its database)"
    )
    latency = f"ack latency p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms"
    print(f"{latency}; receiver peak RSS {e2e['rss_mib']:.0f} MiB")
    for moment, key in (("at rest", "rest"), ("at rest after the load", "after")):
        mib = e2e[key]
        print(
            f"receiver {moment}: RSS {mib['VmRSS:']:.0f} MiB = private {mib['RssAnon:']:.0f} "
            f"+ mapped files {mib['RssFile:']:.0f} (mostly the engine's library: shared, "
            "reclaimable)"
        )
    engine = "loaded" if remote["engine_mapped"] else "not loaded"
    print(
        f"receiver writing to a server (engine {engine}): RSS at rest "
        f"{remote['rest']['VmRSS:']:.0f} MiB, peak {remote['rss_mib']:.0f} MiB, at rest after "
        f"the load {remote['after']['VmRSS:']:.0f} MiB"
    )
    print(
        f"  (the server is {SERVER}: its CPU is not a measure of ClickHouse's, so only the "
        "receiver's side of this run is a figure)"
    )
    main_thread = Path(sys.executable).name[:15]
    print("\nwhere the receiver's CPU went (its stage counters on /metrics, threads by name):")
    print(table(breakdown(e2e, total, main_thread, "engine INSERT (flusher thread)")))
    print("\nthe same, for the receiver writing to a server:")
    print(table(breakdown(remote, total, main_thread, "INSERT sent to the server (flusher)")))
    print(
        "\nthe raw insert's parts (the same requests, inserts with views detached alternating "
        "with inserts with all, in one store):"
    )
    print(table(views))
    return {
        "ratio": ratio,
        "e2e_rate": e2e_rate,
        "raw_rate": raw_rate,
        "remote_rate": remote_rate,
        **e2e,
    }
