"""End-to-end ingest (OTLP/gRPC -> durable ack -> rows in chDB) against the raw engine.

Requests are encoded once by the official OpenTelemetry SDK encoder, each one distinct (the
receiver recognises an identical export re-sent within its deduplication window and does not
store it again), then sent by raw gRPC clients in other processes (the SDK exporter itself
tops out near 20k spans/s per process on encoding). Throughput is spans per receiver
CPU-second; the baseline is the raw chDB insert of the very same requests (length-delimited,
through the same landing table and views) in the same run. Also: acknowledgement latency
p50/p99 and the receiver's peak RSS.
"""

from __future__ import annotations

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
from pathlib import Path

from benchmarks.timing import table

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


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


RAW_SCRIPT = """
import sys, time, resource
from pathlib import Path
from exptrace.ingest.store.backends import open_store
from exptrace.ingest.schema.ddl import Schema
from exptrace.ingest.schema.migrate import ensure_schema
from exptrace.ingest.log.flusher import length_delimited
from exptrace.ingest.log._protoschema import otlp_schema, TRACES
from exptrace.ingest.log.wal import Record, Signal
data_dir, requests_file, per_insert = sys.argv[1], sys.argv[2], int(sys.argv[3])
blob = Path(requests_file).read_bytes()
requests, offset = [], 0
while offset < len(blob):
    n = int.from_bytes(blob[offset:offset + 4], "little"); offset += 4
    requests.append(blob[offset:offset + n]); offset += n
store = open_store("chdb://" + data_dir)
ensure_schema(store, Schema())
settings = {"input_format_protobuf_oneof_presence": 1}
start = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
for i in range(0, len(requests), per_insert):
    chunk = [Record(Signal.TRACES, r) for r in requests[i:i + per_insert]]
    token = {"insert_deduplication_token": f"raw-{i}"}  # replayed requests are not duplicates
    data = length_delimited(chunk)
    store.insert_protobuf("otel_traces_landing", data, otlp_schema(), TRACES, {**settings, **token})
wall = time.perf_counter() - t0
end = resource.getrusage(resource.RUSAGE_SELF)
cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
rows = store.query("SELECT count() FROM otel_traces").scalar()
print(f"{rows} {cpu} {wall}")
"""


def raw_engine(requests: list[bytes], per_insert: int, work: Path) -> tuple[int, float, float]:
    """Rows, CPU seconds and wall seconds for inserting ``requests`` straight into chDB."""
    blob = work / "requests.bin"
    blob.write_bytes(b"".join(len(r).to_bytes(4, "little") + r for r in requests))
    out = subprocess.run(
        [sys.executable, "-c", RAW_SCRIPT, str(work / "raw-store"), str(blob), str(per_insert)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    rows, cpu, wall = out.stdout.split()
    return int(rows), float(cpu), float(wall)


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


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def end_to_end(requests: list[bytes], clients: int, work: Path) -> dict[str, float]:
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "EXPTRACE_FLUSH_INTERVAL": "1.0",
            "EXPTRACE_WAL_SEGMENT_BYTES": str(32 << 20),
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
        cpu_before = _cpu_seconds(receiver.pid)
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
        rss = _peak_rss_mib(receiver.pid)
    finally:
        receiver.terminate()
        receiver.wait(120)
    latencies.sort()
    return {
        "cpu": cpu,
        "acked_wall": acked,
        "queryable_wall": queryable,
        "rss_mib": rss,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
    }


def run(quick: bool = False) -> dict[str, float]:
    count, spans, repeat, clients = (40, 250, 2, 2) if quick else (100, 500, 6, 3)
    print(
        f"encoding {count * repeat} requests x {spans} spans with the OpenTelemetry SDK encoder...",
        flush=True,
    )
    requests = encode_requests(count * repeat, spans)
    total = count * spans * repeat
    work = Path(tempfile.mkdtemp(prefix="exptrace-bench-"))
    try:
        rows, raw_cpu, raw_wall = raw_engine(requests, per_insert=count, work=work)
        assert rows == total, f"raw engine stored {rows} of {total} spans"
        e2e = end_to_end(requests, clients, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_rate = total / raw_cpu
    e2e_rate = total / e2e["cpu"]
    print(f"\n{total} spans ({count * repeat} requests of {spans}), {clients} client processes")
    print(
        table(
            [
                ("path", "spans/CPU-s", "wall s", "notes"),
                (
                    "raw chDB insert (baseline)",
                    f"{raw_rate:,.0f}",
                    f"{raw_wall:.2f}",
                    f"{count} requests per insert",
                ),
                (
                    "exptrace end-to-end",
                    f"{e2e_rate:,.0f}",
                    f"{e2e['queryable_wall']:.2f}",
                    f"receiver CPU {e2e['cpu']:.2f}s, acked in {e2e['acked_wall']:.2f}s",
                ),
            ]
        )
    )
    ratio = e2e_rate / raw_rate
    print(f"end-to-end / raw engine, per CPU-second: {ratio:.2f}  (target >= 0.70)")
    print(f"end-to-end spans per receiver CPU-second: {e2e_rate:,.0f}  (stretch >= 137,000)")
    latency = f"ack latency p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms"
    print(f"{latency}; receiver peak RSS {e2e['rss_mib']:.0f} MiB")
    return {"ratio": ratio, "e2e_rate": e2e_rate, "raw_rate": raw_rate, **e2e}
