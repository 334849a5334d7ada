"""An export re-sent after its acknowledgement was lost is acknowledged and stored once.

OpenTelemetry exporters resend the very same bytes when an attempt fails or times out; when
the receiver had already logged the first attempt, every collector stores it twice. Here the
receiver recognises the bytes within EXPTRACE_DEDUP_WINDOW (600 s by default), also after a
clean or a hard restart, and counts what it recognised.
"""

import grpc

from tests.ingest.crashload import TRACE_METHOD, Receiver, request, stored_span_counts

DUPLICATES = 'exptrace_ingest_requests_duplicate_total{signal="traces"}'


def send(receiver: Receiver, payload: bytes) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        channel.unary_unary(TRACE_METHOD)(payload, timeout=30)  # raises unless acknowledged


def test_resent_export_is_stored_once_across_restarts(tmp_path):
    receiver = Receiver(tmp_path / "data")
    receiver.start()
    receiver.wait_ready()
    first, first_ids = request(1, 1, 20)
    second, second_ids = request(1, 2, 20)
    send(receiver, first)
    send(receiver, first)  # the acknowledgement was lost: the same bytes again
    assert receiver.metric(DUPLICATES) == 1
    assert receiver.metric('exptrace_ingest_items_duplicate_total{signal="traces"}') == 20
    send(receiver, second)
    receiver.kill()  # hard: the second export may or may not have left the log

    receiver.start()
    receiver.wait_ready()
    send(receiver, second)
    send(receiver, first)
    assert receiver.metric(DUPLICATES) == 2
    assert receiver.stop() == 0  # clean: the log is drained and emptied

    receiver.start()
    receiver.wait_ready()
    send(receiver, first)
    send(receiver, second)
    assert receiver.metric(DUPLICATES) == 2
    assert receiver.stop() == 0
    assert stored_span_counts(receiver.data_dir) == dict.fromkeys(first_ids + second_ids, 1)


def test_a_window_of_zero_stores_every_copy(tmp_path):
    """EXPTRACE_DEDUP_WINDOW=0 turns recognition off: each copy is stored."""
    receiver = Receiver(tmp_path / "data", EXPTRACE_DEDUP_WINDOW="0")
    receiver.start()
    receiver.wait_ready()
    payload, ids = request(1, 1, 5)
    send(receiver, payload)
    send(receiver, payload)
    assert receiver.metric(DUPLICATES) == 0
    assert receiver.stop() == 0
    assert stored_span_counts(receiver.data_dir) == dict.fromkeys(ids, 2)
