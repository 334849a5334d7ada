"""Load and verification helpers for the crash test (raw gRPC clients, pre-encoded requests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(sender: int, seq: int, spans: int) -> tuple[bytes, list[str]]:
    """One export with ``spans`` spans whose ids encode (sender, seq, index)."""
    now = time.time_ns()
    ids, out = [], []
    for i in range(spans):
        span_id = ((sender << 48) | (seq << 12) | i).to_bytes(8, "big")
        ids.append(span_id.hex())
        out.append(
            Span(
                trace_id=span_id * 2,
                span_id=span_id,
                name="crash-op",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now,
                end_time_unix_nano=now + 1000,
                attributes=[KeyValue(key="exp.crash", value=AnyValue(string_value="B"))],
            )
        )
    message = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="crash"))]
                ),
                scope_spans=[ScopeSpans(spans=out)],
            )
        ]
    )
    return message.SerializeToString(), ids


class Receiver:
    """The receiver as a separate process, so it can be killed for real."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "EXPTRACE_FLUSH_INTERVAL": "0.2"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exptrace.ingest.cli",
                "--data-dir",
                str(self.data_dir),
                "--grpc",
                f"127.0.0.1:{self.grpc_port}",
                "--http",
                f"127.0.0.1:{self.http_port}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)


class Load:
    """Sender threads recording which span ids were acknowledged."""

    def __init__(self, port: int, senders: int = 4, spans: int = 20) -> None:
        self.port = port
        self.spans = spans
        self.acknowledged: set[str] = set()
        self.attempts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(s,), daemon=True)
            for s in range(1, senders + 1)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, sender: int) -> None:
        seq = 0
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        export = channel.unary_unary(TRACE_METHOD)
        while not self._stop.is_set():
            seq += 1
            payload, ids = request(sender, seq, self.spans)
            with self._lock:
                self.attempts += 1
            try:
                export(payload, timeout=5)
            except grpc.RpcError:
                time.sleep(0.02)  # receiver down or restarting: this request was not acknowledged
                continue
            with self._lock:
                self.acknowledged.update(ids)
        channel.close()


def stored_span_counts(data_dir: Path) -> dict[str, int]:
    """span id -> number of rows, read by a separate process (one engine per process)."""
    code = (
        "import json, sys; from exptrace.ingest.store import open_store;"
        f"s = open_store('chdb://{data_dir / 'store'}');"
        "rows = s.query(\"SELECT SpanId, count() FROM otel_traces WHERE ServiceName = 'crash' GROUP BY SpanId\").rows;"
        "print(json.dumps(dict(rows)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout)
