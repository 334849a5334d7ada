"""Nothing a client sends holds the HTTP routes of the real receiver process.

Before: one 1 MiB body of empty zstd frames froze every HTTP request, ``/healthz`` included,
for 23.8 s (gzip members: 3.4 s), and one legitimate 15 MiB OTLP/JSON export for 15.8 s:
both were worked on the asyncio loop, the first in quadratic time. Now, while the big JSON
export is in flight and bombs of empty frames and members arrive again and again, health
probes and other clients' exports keep being answered: several complete while the big export
is still in progress, and none waits anywhere near as long as it takes.
"""

from __future__ import annotations

import gzip
import threading
import time

import httpx
from backports import zstd
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from exptrace.ingest.door._encodings import MAX_MEMBERS
from tests.ingest.crashload import Receiver
from tests.ingest.door import otlp_json, span, traces

SPANS = 27_051  # the export of the report, about 15 MiB as OTLP/JSON


def _big_json() -> bytes:
    attributes = [KeyValue(key=f"attr.{k}", value=AnyValue(string_value="v" * 140)) for k in (1, 2)]
    body = otlp_json(
        traces("big-json", [span(f"op-{i}", attributes=attributes) for i in range(SPANS)])
    )
    assert 14 << 20 < len(body) < 16 << 20
    return body


class Timed:
    """Latencies of a kind of request, each with the moment it ended."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (ended, seconds)
        self.statuses: list[int] = []

    def call(self, client: httpx.Client, method: str, path: str, **options) -> None:
        began = time.monotonic()
        status = client.request(method, path, **options).status_code
        ended = time.monotonic()
        self.samples.append((ended, ended - began))
        self.statuses.append(status)

    def within(self, start: float, end: float) -> list[float]:
        return [
            seconds for ended, seconds in self.samples if start <= ended - seconds and ended <= end
        ]


def test_bombs_and_a_15_mib_json_export_do_not_freeze_health_or_other_exports(tmp_path):
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    try:
        receiver.wait_ready()
        base = f"http://127.0.0.1:{receiver.http_port}"
        probes, exports, bombs = Timed(), Timed(), Timed()
        with httpx.Client(base_url=base, timeout=120) as client:

            def probe() -> None:
                probes.call(client, "GET", "/healthz")

            def export(n: int) -> None:
                body = traces("other-client", [span(f"small-{n}")]).SerializeToString()
                headers = {"content-type": "application/x-protobuf"}
                exports.call(client, "POST", "/v1/traces", content=body, headers=headers)

            for n in range(10):  # the baseline, measured the same way moments before
                probe()
                export(n)
            baseline = max(seconds for _, seconds in probes.samples + exports.samples)
            probes.samples.clear()
            exports.samples.clear()

            big = _big_json()
            finished = threading.Event()
            big_answer: dict[str, float] = {}

            def send_big() -> None:
                with httpx.Client(base_url=base, timeout=300) as own:
                    big_answer["start"] = time.monotonic()
                    answer = own.post(
                        "/v1/traces", content=big, headers={"content-type": "application/json"}
                    )
                    big_answer["end"] = time.monotonic()
                    big_answer["status"] = answer.status_code
                finished.set()

            frames = {
                "zstd": zstd.compress(b"") * ((1 << 20) // len(zstd.compress(b""))),
                "gzip": gzip.compress(b"") * ((1 << 20) // len(gzip.compress(b""))),
            }

            def send_bombs() -> None:
                with httpx.Client(base_url=base, timeout=300) as own:
                    while not finished.is_set():
                        for encoding, body in frames.items():
                            headers = {
                                "content-type": "application/x-protobuf",
                                "content-encoding": encoding,
                            }
                            bombs.call(own, "POST", "/v1/traces", content=body, headers=headers)

            def other_client() -> None:
                with httpx.Client(base_url=base, timeout=300) as own:
                    n = 100
                    while not finished.is_set():
                        body = traces("other-client", [span(f"small-{n}")]).SerializeToString()
                        headers = {"content-type": "application/x-protobuf"}
                        exports.call(own, "POST", "/v1/traces", content=body, headers=headers)
                        n += 1

            threads = [threading.Thread(target=f) for f in (send_big, send_bombs, other_client)]
            for thread in threads:
                thread.start()
            while not finished.wait(0.02):
                probe()
            for thread in threads:
                thread.join(300)

        assert big_answer["status"] == 200
        took = big_answer["end"] - big_answer["start"]
        assert took > 10 * baseline, "the big export was too quick to tell anything"
        during = probes.within(big_answer["start"], big_answer["end"])
        others = exports.within(big_answer["start"], big_answer["end"])
        # Answered while it was in progress, each well within the time it took.
        assert len(during) >= 3, (took, probes.samples)
        assert len(others) >= 3, (took, exports.samples)
        assert max(during) < took / 3, (took, during)
        assert max(others) < took / 3, (took, others)
        assert set(probes.statuses) == {200}
        assert set(exports.statuses) == {200}
        assert bombs.statuses and set(bombs.statuses) == {413}
        # A bomb is refused at once: no slower than the big export it ran beside.
        assert max(seconds for _, seconds in bombs.samples) < took / 3
        refused = (
            'exptrace_ingest_requests_refused_total{signal="traces",reason="too_many_members"}'
        )
        assert receiver.metric(refused) == len(bombs.statuses)
        assert (1 << 20) // len(gzip.compress(b"")) > MAX_MEMBERS  # each bomb is over the bound
        print(
            f"big export {took:.2f} s; baseline {baseline * 1000:.1f} ms; during it: "
            f"{len(during)} probes, slowest {max(during) * 1000:.0f} ms, {len(others)} exports, "
            f"slowest {max(others) * 1000:.0f} ms; {len(bombs.statuses)} bombs"
        )
    finally:
        assert receiver.stop() == 0
