"""The disk under ``exptrace up``'s data directory (log and embedded store) fills up under
load, then space is freed (issue 14, row 9).

Before: 1,443 tracebacks and 28,867 log lines in 22 s (the insert's scratch file was retried
with no backoff). Now a full disk is an outage of the store like any other: retried with
backoff and counted in ``exptrace_ingest_store_errors_total``, and the log says when the
stall begins and when it ends; clients get retryable refusals meanwhile, and once space is
free everything acknowledged is stored once.
"""

import pytest

from tests.ingest.crashload import Load, Receiver, stored_span_counts
from tests.ingest.helpers import small_filesystem, wait_for

ERRORS = "exptrace_ingest_store_errors_total"
REFUSED = 'exptrace_ingest_requests_refused_total{signal="traces",reason="log_error"}'


@pytest.fixture
def small_disk(tmp_path):
    """A 96 MiB filesystem (tmpfs): room for the embedded store, then filled on purpose."""
    with small_filesystem(tmp_path, "96m") as mount:
        yield mount


def fill(path) -> None:
    """Write ``path`` until the filesystem has no space left."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass


@pytest.mark.slow
def test_a_full_disk_logs_state_changes_not_every_retry(small_disk):
    receiver = Receiver(
        small_disk / "data",
        EXPTRACE_WAL_SEGMENT_BYTES="65536",
        EXPTRACE_STORE_RETRY_MAX_DELAY="1",
    )
    receiver.start()
    receiver.wait_ready()
    load = Load(receiver.grpc_port, senders=2)
    load.start()
    filler = small_disk / "filler"
    try:
        wait_for(lambda: len(load.acknowledged) > 100, timeout=120)
        before = len(receiver.log().splitlines())
        errors = receiver.metric(ERRORS)
        fill(filler)
        # Exports are refused (retryable), the flusher's inserts fail and are retried.
        wait_for(lambda: receiver.metric(REFUSED) >= 5, timeout=120)
        wait_for(lambda: receiver.metric(ERRORS) >= errors + 8, timeout=120)
        full = receiver.log().splitlines()[before:]
        filler.unlink()
        during = len(load.acknowledged)
        wait_for(lambda: len(load.acknowledged) > during + 100, timeout=120)
    finally:
        filler.unlink(missing_ok=True)
        load.stop()
    receiver.wait_drained()
    assert receiver.stop() == 0
    assert len(full) <= 10, "\n".join(full)
    assert sum("Traceback" in line for line in full) <= 1
    assert "the store takes logged data again" in receiver.log()
    counts = stored_span_counts(receiver.data_dir)
    assert [s for s in load.acknowledged if s not in counts] == []
    assert {s: n for s, n in counts.items() if n > 1} == {}
