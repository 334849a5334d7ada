"""``exptrace up`` starts while its ClickHouse server is down (issue 14, row 6).

Before: it refused to start (exit 2 after 7-11 s, "Unexpected Http Driver Exception"), though
its log could have buffered a gigabyte. Now it listens at once, acknowledges into its log,
shows the stall on ``/readyz`` and in ``exptrace_ingest_flush_stalled_seconds``, and once
the server is up creates the schema and the query views and fills the store: every
acknowledged span once.
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.ingest.crashload import EXPTRACE_UP, Load, Receiver
from tests.ingest.helpers import wait_for
from tests.ingest.storeproc import StoreProcess
from tests.ingest.test_door_process import EXPTRACE, free_port, one_line_error


def readyz(receiver: Receiver) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(receiver.url("/readyz"), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_up_starts_with_the_store_down_and_fills_it_when_it_returns(tmp_path):
    store = StoreProcess(tmp_path / "server")  # its port is chosen, nothing listens yet
    receiver = Receiver(tmp_path / "data", "--store", store.url)
    receiver.command = EXPTRACE_UP
    receiver.start()
    try:
        receiver.wait_ready(path="/healthz")
        load = Load(receiver.grpc_port, senders=2)
        load.start()
        try:
            wait_for(lambda: len(load.acknowledged) > 100, timeout=120)
            status, text = readyz(receiver)
            assert status == 503
            assert "the store is not reachable yet" in text
            wait_for(lambda: receiver.metric("exptrace_ingest_flush_stalled_seconds") > 0)
            store.start()
            receiver.wait_ready()
            during = len(load.acknowledged)
            wait_for(lambda: len(load.acknowledged) > during + 100, timeout=120)
        finally:
            load.stop()
        receiver.wait_drained()
        # The query layer's views were created once the store was reached.
        with urllib.request.urlopen(receiver.url("/api/v1/experiments"), timeout=30) as r:
            assert r.status == 200
        assert receiver.stop() == 0
        rows = store.rows(
            "SELECT SpanId, count() FROM otel_traces WHERE ServiceName = 'crash' GROUP BY SpanId"
        )
        [[views]] = store.rows(
            "SELECT count() FROM system.tables WHERE name = 'exptrace_ingestion_lag'"
        )
    finally:
        store.stop()
    assert views == 1
    counts = dict(rows)
    assert [s for s in load.acknowledged if s not in counts] == []
    assert {s: n for s, n in counts.items() if n > 1} == {}


def test_a_server_that_answers_with_an_error_still_stops_start_up(tmp_path):
    """Only a server that cannot be reached is waited for: one that answers and refuses (here
    its RE2 refuses a mask) stops start-up with one line, as an embedded store does."""
    store = StoreProcess(tmp_path / "server")
    store.start()
    try:
        result = subprocess.run(
            [
                EXPTRACE,
                "up",
                "--data-dir",
                str(tmp_path / "data"),
                "--grpc",
                f"127.0.0.1:{free_port()}",
                "--http",
                f"127.0.0.1:{free_port()}",
                "--store",
                store.url,
            ],
            env={**os.environ, "EXPTRACE_REDACT_MASKS": '["a(?=b)"]'},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        store.stop()
    line = one_line_error(result, result.stderr)
    assert line.startswith("exptrace: EXPTRACE_REDACT_MASKS "), line


def test_a_store_down_is_logged_once_and_the_api_says_so_in_a_few_words(tmp_path):
    """Before: two lines at every retry (the driver's "Unexpected Http Driver Exception" and
    ours, each request id making the error look new: 27 lines in 38 s), and the API's 503
    carried the driver's whole text."""
    down = f"clickhouse://127.0.0.1:{free_port()}"  # nothing listens
    receiver = Receiver(tmp_path / "data", "--store", down, EXPTRACE_STORE_RETRY_MAX_DELAY="0.1")
    receiver.command = EXPTRACE_UP
    receiver.start()
    try:
        receiver.wait_ready(path="/healthz")
        try:
            urllib.request.urlopen(receiver.url("/api/v1/experiments"), timeout=30)
            raise AssertionError("the API answered with the store down")
        except urllib.error.HTTPError as error:
            status, body = error.code, json.loads(error.read())
        # Retries every 0.1 s meanwhile: any repeated line shows up many times.
        wait_for(lambda: "the store is not answering" in receiver.log(), timeout=60)
        time.sleep(3)
        lines = receiver.log().splitlines()
    finally:
        assert receiver.stop() == 0
    assert status == 503
    assert body == {"error": "the store is not answering: [Errno 111] Connection refused"}
    assert not any("Unexpected Http Driver Exception" in line for line in lines), lines
    about_the_store = [line for line in lines if "the store" in line]
    assert len(about_the_store) == 2, lines  # it does not answer; the API's reader was told
