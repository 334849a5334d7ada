"""kill -9 at random moments under load: every acknowledged span is stored exactly once."""

import random
import time
import urllib.request

import pytest

from tests.ingest.crashload import Load, Receiver, stored_span_counts


def wait_ready(receiver: Receiver, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert receiver.process.poll() is None, receiver.process.stderr.read().decode()[-2000:]
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{receiver.http_port}/readyz", timeout=2
            ) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("receiver did not become ready")


@pytest.mark.slow
def test_kill_9_under_load_loses_and_duplicates_nothing(tmp_path, capsys):
    rng = random.Random(20261126)
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    wait_ready(receiver)
    load = Load(receiver.grpc_port)
    load.start()
    kills = 0
    try:
        for _ in range(6):
            time.sleep(rng.uniform(0.3, 1.5))  # let load and flushes run, then kill anywhere
            receiver.kill()
            kills += 1
            receiver.start()
            wait_ready(receiver)
        time.sleep(1.0)
    finally:
        load.stop()
    receiver.stop()  # graceful: drains the log into the store

    counts = stored_span_counts(receiver.data_dir)
    acknowledged = load.acknowledged
    missing = [s for s in acknowledged if s not in counts]
    duplicated = {s: n for s, n in counts.items() if n > 1}
    with capsys.disabled():
        print(
            f"\ncrash test: {kills} kills, {load.attempts} requests, "
            f"{len(acknowledged)} spans acknowledged, {sum(1 for s in acknowledged if s in counts)} "
            f"found, {len(counts)} stored in all, {len(duplicated)} duplicated, {len(missing)} missing"
        )
    assert kills == 6 and len(acknowledged) > 1000
    assert missing == []
    assert duplicated == {}
