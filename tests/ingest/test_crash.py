"""Restarts under load, clean (SIGTERM) and hard (kill -9), with clients that resend the same
bytes until acknowledged: every acknowledged span is stored exactly once."""

import random
import time

import pytest

from tests.ingest.crashload import Load, Receiver, stored, stored_span_counts


@pytest.mark.slow
def test_restarts_under_load_lose_and_duplicate_nothing(tmp_path, capsys):
    rng = random.Random(20261129)
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    receiver.wait_ready()
    load = Load(receiver.grpc_port)
    load.start()
    how = ["kill -9", "SIGTERM"] * 4
    try:
        for way in how:
            time.sleep(rng.uniform(0.3, 1.5))  # let load and flushes run, then stop anywhere
            if way == "kill -9":
                receiver.kill()
            else:
                assert receiver.stop() == 0
            receiver.start()
            receiver.wait_ready()
        time.sleep(1.0)
    finally:
        load.stop()
    assert receiver.stop() == 0  # graceful: drains the log into the store

    counts = stored_span_counts(receiver.data_dir)
    acknowledged = load.acknowledged
    lost = [s for s in acknowledged if s not in counts]
    duplicated = {s: n for s, n in counts.items() if n > 1}
    with capsys.disabled():
        print(
            f"\ncrash test: {how.count('kill -9')} kill -9, {how.count('SIGTERM')} SIGTERM, "
            f"{load.attempts} attempts; acknowledged {len(acknowledged)} spans, "
            f"stored {sum(counts.values())} rows ({len(counts)} spans), "
            f"duplicated {len(duplicated)}, lost {len(lost)}"
        )
    assert len(acknowledged) > 1000
    assert lost == []
    assert duplicated == {}
    # Spans stored but never acknowledged can only come from attempts in flight at a kill.
    assert len(set(counts) - acknowledged) <= 4 * load.spans
    # The request facts the reports read went through the same restarts: one row per stored
    # trace (each span here is its own trace), none missing, none doubled.
    [[facts, traces]] = stored(
        receiver.data_dir,
        "SELECT count(), uniqExact(Trace) FROM exptrace_requests WHERE Experiment = 'crash'",
    )
    assert facts == traces == len(counts)
