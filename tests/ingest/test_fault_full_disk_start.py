"""``exptrace up`` started on a full disk, then started again once space is freed (the
red team's F1, 3 of 3 runs).

Before: the full-disk start printed no error and answered ``/readyz`` 200 throughout, and
replaced every query view: ``exptrace_attribution.sql`` was left empty, and every later
start failed (``Code: 62 ... Empty query``, exit 2) until the file was deleted by hand. Now
the full-disk start writes no view, is not ready, refuses exports with retryable codes, and
the next start with room opens the store with everything acknowledged in it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import grpc
import pytest

from exptrace.query import views
from tests.ingest.crashload import (
    EXPTRACE_UP,
    TRACE_METHOD,
    Load,
    Receiver,
    request,
    stored,
    stored_span_counts,
)
from tests.ingest.helpers import small_filesystem, wait_for
from tests.ingest.test_fault_disk_full_logs import fill

QUERY_VIEWS = "SELECT count() FROM system.tables WHERE engine = 'View' AND comment != ''"


@pytest.fixture
def small_disk(tmp_path):
    """A 200 MiB filesystem (tmpfs), as in the red team's run."""
    with small_filesystem(tmp_path, "200m") as mount:
        yield mount


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post(url: str, body: bytes) -> tuple[int, dict[str, str]]:
    sent = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def up(data_dir) -> Receiver:
    receiver = Receiver(data_dir, EXPTRACE_STORE_RETRY_MAX_DELAY="1")
    receiver.command = EXPTRACE_UP
    receiver.start()
    return receiver


@pytest.mark.slow
def test_a_start_on_a_full_disk_is_not_ready_and_the_next_start_has_everything(small_disk):
    data = small_disk / "data"
    first = up(data)
    first.wait_ready()
    load = Load(first.grpc_port, senders=2)
    load.start()
    wait_for(lambda: len(load.acknowledged) >= 200, timeout=120)
    load.stop()
    before = set(load.acknowledged)
    first.wait_drained()
    assert first.stop() == 0

    filler = small_disk / "filler"
    fill(filler)
    full = up(data)
    try:
        full.wait_ready(path="/healthz")
        readiness = []
        deadline = time.monotonic() + 5  # a start with room is ready well within this
        while time.monotonic() < deadline:
            readiness.append(get(full.url("/readyz")))
            time.sleep(0.2)
        assert {status for status, _ in readiness} == {503}
        assert "the disk under the store is full" in readiness[-1][1]
        status, headers = post(full.url("/v1/traces"), request(9, 1, 5)[0])
        assert (status, "retry-after" in headers) == (503, True)
        with (
            grpc.insecure_channel(f"127.0.0.1:{full.grpc_port}") as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            channel.unary_unary(TRACE_METHOD)(request(9, 2, 5)[0], timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        load = Load(full.grpc_port, senders=2, first_sender=3)
        load.start()
        time.sleep(2)  # exports are refused (retried by the senders) or logged meanwhile
        load.stop()
        during = set(load.acknowledged)
    finally:
        assert full.stop() == 0
    assert "Code: 62" not in full.log() and "Empty query" not in full.log()

    filler.unlink()
    again = up(data)
    again.wait_ready()
    again.wait_drained()
    assert again.stop() == 0
    assert "Code: 62" not in again.log()
    assert stored(data, QUERY_VIEWS) == [[len(views())]]
    counts = stored_span_counts(data)
    assert [s for s in before | during if s not in counts] == []  # nothing acknowledged lost
    assert {s: n for s, n in counts.items() if n > 1} == {}
