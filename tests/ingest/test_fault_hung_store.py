"""The ClickHouse server hangs (SIGSTOP) under the real ``exptrace up`` (issue 14, row 5).

Before: ``/readyz`` did not answer in 60 s (a blocking ``SELECT 1`` per probe), 60 probes used
up the thread pool so an export waited 12 s, ``exptrace_ingest_flush_stalled_seconds``
stayed 0 and SIGTERM took 72 s. Now probes read a cached answer, the stall metric grows
while an insert hangs, and SIGTERM returns while the server still hangs (it never answers
while stopped, so a stop that waited for it would not return at all) leaving the log for the
next start (also when the receiver was started against the hung server), which stores it
once the server answers again.
"""

import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.ingest.crashload import EXPTRACE_UP, Load, Receiver
from tests.ingest.door import span, traces
from tests.ingest.helpers import wait_for
from tests.ingest.storeproc import StoreProcess

READYZ_BOUND = 2.0
"""Seconds within which ``/readyz`` answers whatever the store does (README)."""


def timed_get(url: str) -> tuple[int, float, str]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    return status, time.monotonic() - started, text


@pytest.mark.slow
def test_a_hung_store_leaves_readiness_and_intake_answering(tmp_path, capsys):
    store = StoreProcess(tmp_path / "server")
    store.start()
    receiver = Receiver(tmp_path / "data", "--store", store.url)
    receiver.command = EXPTRACE_UP
    try:
        receiver.start()
        receiver.wait_ready()
        load = Load(receiver.grpc_port, senders=2)
        load.start()
        try:
            wait_for(lambda: len(load.acknowledged) > 100, timeout=120)
            store.pause()
            stalled = "exptrace_ingest_flush_stalled_seconds"
            first = wait_for(lambda: receiver.metric(stalled), timeout=120)
            wait_for(lambda: receiver.metric(stalled) > first + 1, timeout=120)
            # 60 probes at once, and an export over HTTP among them.
            answers: list[tuple[int, float, str]] = []
            probes = [
                threading.Thread(target=lambda: answers.append(timed_get(receiver.url("/readyz"))))
                for _ in range(60)
            ]
            for probe in probes:
                probe.start()
            export = traces("hung", [span("op")]).SerializeToString()
            posted = time.monotonic()
            request = urllib.request.Request(
                receiver.url("/v1/traces"),
                data=export,
                headers={"Content-Type": "application/x-protobuf"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
            exported = time.monotonic() - posted
            for probe in probes:
                probe.join(60)
            during = len(load.acknowledged)
            wait_for(lambda: len(load.acknowledged) > during + 50, timeout=120)
        finally:
            load.stop()
        slowest = max(seconds for _status, seconds, _text in answers)
        assert len(answers) == 60
        assert {status for status, _s, _t in answers} == {503}
        assert all("the store has not answered" in text for _s, _x, text in answers), answers[0]
        assert all("the store has not answered an insert" in text for _s, _x, text in answers)
        started = time.monotonic()
        assert receiver.stop() == 0
        stopping = time.monotonic() - started
        with capsys.disabled():
            print(
                f"\nhung store: slowest of 60 /readyz {slowest:.2f}s, "
                f"HTTP export {exported:.2f}s, SIGTERM {stopping:.1f}s"
            )
        assert slowest < READYZ_BOUND
        assert exported < READYZ_BOUND
        assert "not in the store; they are stored at the next start" in receiver.log()
        # Started while the server still hangs: it listens, and stops at once.
        receiver.start()
        receiver.wait_ready(path="/healthz")
        wait_for(lambda: "does not answer" in receiver.log())
        assert receiver.stop() == 0
        # The server answers again; then hangs under load, and SIGTERM comes at once, with
        # an insert just sent (the worst case: the stop waits for it to count as hung).
        store.resume()
        receiver.start()
        receiver.wait_ready()
        again = Load(receiver.grpc_port, senders=2, first_sender=3)
        again.start()
        try:
            wait_for(lambda: len(again.acknowledged) > 100, timeout=120)
            store.pause()
            started = time.monotonic()
            assert receiver.stop() == 0
            sudden_stop = time.monotonic() - started
        finally:
            again.stop()
        with capsys.disabled():
            print(f"SIGTERM as the server hangs under load: {sudden_stop:.1f}s")
        store.resume()
        receiver.start()
        receiver.wait_ready()
        receiver.wait_drained()
        assert receiver.stop() == 0
        rows = store.rows(
            "SELECT SpanId, count() FROM otel_traces WHERE ServiceName = 'crash' GROUP BY SpanId"
        )
    finally:
        store.stop()
    counts = dict(rows)
    assert [s for s in load.acknowledged | again.acknowledged if s not in counts] == []
    assert {s: n for s, n in counts.items() if n > 1} == {}
