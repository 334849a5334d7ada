"""A small export does not queue behind other clients' large ones, on the real receiver.

Before: while 10 concurrent gzip bodies of 2.6 MiB each (13 MiB of OTLP/JSON once inflated:
1.15 million unknown keys and no span) were worked on, another client's 5-span export waited
up to 15.3 s, ``/healthz`` up to 1.5 s, and the stock Python ``OTLPSpanExporter`` over HTTP
(its default 10 s timeout) dropped a batch. Now small bodies have a lane of their own and a
large body's JSON is parsed in a worker process: every batch of that exporter is taken, each
sooner than one such large body takes alone, measured in the same run.
"""

from __future__ import annotations

import gzip
import threading
import time

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.ingest.crashload import Receiver
from tests.ingest.helpers import make_spans

LARGE_BODIES = 10


def _large_body() -> bytes:
    """13 MiB of OTLP/JSON, all of it keys no OTLP type knows, gzipped to 2.6 MiB."""
    document = b"{" + b",".join(b'"k%d":1' % n for n in range(1_150_000)) + b"}"
    return gzip.compress(document, 6)


def test_a_small_export_is_not_held_by_concurrent_large_bodies(tmp_path):
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    exporter = OTLPSpanExporter(endpoint=receiver.url("/v1/traces"))  # stock: 10 s timeout
    try:
        receiver.wait_ready()
        body = _large_body()
        headers = {"content-type": "application/json", "content-encoding": "gzip"}

        def post_large() -> tuple[int, float]:
            with httpx.Client(timeout=300) as client:
                began = time.monotonic()
                status = client.post(receiver.url("/v1/traces"), content=body, headers=headers)
                return status.status_code, time.monotonic() - began

        def export_small(n: int) -> tuple[SpanExportResult, float]:
            spans = make_spans(f"small-{n}", 5)
            began = time.monotonic()
            return exporter.export(spans), time.monotonic() - began

        # The baseline: one large body alone (its worker process started), then a small one.
        assert post_large()[0] == 200
        status, alone = post_large()
        assert status == 200
        assert export_small(0)[0] == SpanExportResult.SUCCESS

        large: list[tuple[int, float]] = []
        senders = [
            threading.Thread(target=lambda: large.append(post_large())) for _ in range(LARGE_BODIES)
        ]
        for sender in senders:
            sender.start()
        small = []
        while any(sender.is_alive() for sender in senders):
            small.append(export_small(len(small) + 1))
            time.sleep(0.05)
        for sender in senders:
            sender.join(300)

        assert [status for status, _ in large] == [200] * LARGE_BODIES
        slowest_large = max(seconds for _, seconds in large)
        assert slowest_large > 3 * alone / 2, "the large bodies did not overlap"
        assert len(small) >= 5, (slowest_large, small)
        assert {result for result, _ in small} == {SpanExportResult.SUCCESS}
        slowest_small = max(seconds for _, seconds in small)
        assert slowest_small < alone, (alone, small)
        print(
            f"one large body alone {alone:.2f} s; {LARGE_BODIES} at once: slowest "
            f"{slowest_large:.2f} s; {len(small)} small exports meanwhile, slowest "
            f"{slowest_small * 1000:.0f} ms"
        )

        # A large body that is not OTLP/JSON is refused as such from its worker process.
        listed = b"[" + b",".join(b"1" for _ in range(200_000)) + b"]"
        answer = httpx.post(
            receiver.url("/v1/traces"),
            content=listed,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 400
        assert "the body is a JSON list, not an object" in answer.text
    finally:
        exporter.shutdown()
        assert receiver.stop() == 0
