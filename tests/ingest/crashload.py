"""The real receiver process, clients that retry as OpenTelemetry exporters do, and reading
the store back: helpers for the crash and durability tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from exptrace.ingest.log.wal import HEADER
from tests.ingest.helpers import QUIET, until_quiet

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EXPTRACE_UP = ("-m", "exptrace.query.cli", "up")


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
    """``exptrace up``'s receiver as a separate process (the venv's own interpreter, so
    signals reach it), killed or stopped for real; ``env`` adds EXPTRACE_* settings.
    ``command`` runs it (the receiver alone by default; ``EXPTRACE_UP``: with the query
    layer)."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.args = args
        self.env = {"EXPTRACE_FLUSH_INTERVAL": "0.2", **env}
        self.process: subprocess.Popen | None = None
        self.command = ("-m", "exptrace.ingest.cli")
        self.stderr = ""
        self._log = data_dir.parent / f"{data_dir.name}-stderr.log"

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                *self.command,
                "--data-dir",
                str(self.data_dir),
                "--grpc",
                f"127.0.0.1:{self.grpc_port}",
                "--http",
                f"127.0.0.1:{self.http_port}",
                *self.args,
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=open(self._log, "ab"),  # noqa: SIM115 (the child holds it)
        )

    def wait_ready(self, timeout: float = 120, path: str = "/readyz") -> None:
        """Wait for ``path`` to answer 200 (``/healthz``: the process listens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.log()[-3000:]
            try:
                with urllib.request.urlopen(self.url(path), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("receiver did not become ready")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def metric(self, sample: str) -> float:
        """One sample of /metrics, e.g. ``exptrace_ingest_dead_letters_total{kind="traces"}``."""
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.rsplit(" ", 1)[0] == sample:
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def wait_drained(self, quiet: float = QUIET) -> None:
        """Wait until the log is empty: everything acknowledged is in the store. Fails only
        after ``quiet`` seconds in which the log neither shrank nor inserted anything."""
        until_quiet(
            lambda: self.metric("exptrace_ingest_log_bytes") == 0,
            lambda: (
                self.metric("exptrace_ingest_log_bytes"),
                self.metric("exptrace_ingest_flush_seconds_count"),
            ),
            quiet,
        )

    def log(self) -> str:
        """Everything the process (all its runs) wrote to stderr."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, as a supervisor stops it; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
            raise AssertionError(f"no exit 120 s after SIGTERM:\n{self.log()[-5000:]}") from None


class Load:
    """Sender threads recording which span ids were acknowledged.

    Like the OpenTelemetry exporters, a sender serializes a batch once and, when an attempt
    fails or times out (the receiver was killed, the acknowledgement lost), sends the very
    same bytes again after a short backoff, until they are acknowledged.
    """

    def __init__(self, port: int, senders: int = 4, spans: int = 20, first_sender: int = 1) -> None:
        """``first_sender``: the first sender's number; span ids encode it, so two loads
        with disjoint sender numbers never send the same span id."""
        self.port = port
        self.spans = spans
        self.acknowledged: set[str] = set()
        self.attempts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(s,), daemon=True)
            for s in range(first_sender, first_sender + senders)
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
            while True:
                with self._lock:
                    self.attempts += 1
                try:
                    export(payload, timeout=5)
                    break
                except grpc.RpcError:
                    if self._stop.is_set():
                        channel.close()
                        return  # given up: never acknowledged
                    time.sleep(0.05)  # down or restarting: the same bytes again
            with self._lock:
                self.acknowledged.update(ids)
        channel.close()


def stored(data_dir: Path, sql: str) -> list[list]:
    """Rows of ``sql`` over the stopped receiver's embedded store, read by a separate process
    (one engine per process and directory)."""
    code = (
        "import json, sys; from exptrace.ingest.store.backends import open_store;"
        "s = open_store(sys.argv[1]); print(json.dumps(s.query(sys.argv[2]).rows))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"chdb://{data_dir / 'store'}", sql],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def stored_span_counts(data_dir: Path, service: str = "crash") -> dict[str, int]:
    """span id -> number of rows stored for ``service``."""
    sql = f"SELECT SpanId, count() FROM otel_traces WHERE ServiceName = '{service}' GROUP BY SpanId"
    return dict(stored(data_dir, sql))


def the_segment(receiver: Receiver) -> tuple[Path, bytearray]:
    """The killed receiver's only log segment holding records, and its bytes."""
    [segment] = [p for p in (receiver.data_dir / "wal").glob("seg-*.wal") if p.stat().st_size]
    return segment, bytearray(segment.read_bytes())


def record_offset(data: bytes, index: int) -> int:
    """Where record ``index`` (0-based) of a log segment starts."""
    offset = 0
    for _ in range(index):
        offset += HEADER.size + HEADER.unpack_from(data, offset)[2]
    return offset


def restart_over_one_damaged_record(receiver: Receiver) -> None:
    """Start the receiver on its damaged log; what the operator sees: exactly one damaged
    record dead-lettered, the rest of the log drained into the store, a clean stop."""
    receiver.env["EXPTRACE_FLUSH_INTERVAL"] = "0.2"
    receiver.start()
    receiver.wait_ready()
    assert receiver.metric('exptrace_ingest_dead_letters_total{kind="log_damage"}') == 1
    receiver.wait_drained()
    assert receiver.stop() == 0
