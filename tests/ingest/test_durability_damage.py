"""A damaged record in the middle of the log costs that record only, and is reported as such.

Before, bytes flipped in record 50 of a segment made the restart cut the segment there:
500 of 1000 acknowledged spans were stored, and the log said a torn write at the end, never
acknowledged, had been cut (false twice).
"""

import json

import grpc
import pytest

from exptrace.ingest.log.wal import HEADER
from tests.ingest.crashload import (
    TRACE_METHOD,
    Receiver,
    record_offset,
    request,
    restart_over_one_damaged_record,
    stored_span_counts,
    the_segment,
)


@pytest.mark.parametrize("where", ["payload", "length field"])
@pytest.mark.slow
def test_damaged_record_mid_segment_keeps_every_intact_record(tmp_path, where):
    # Nothing leaves the log by age: the 100 exports stay in one segment until the kill.
    receiver = Receiver(tmp_path / "data", EXPTRACE_FLUSH_INTERVAL="3600")
    receiver.start()
    receiver.wait_ready()
    ids = []
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        send = channel.unary_unary(TRACE_METHOD)
        for seq in range(100):
            payload, spans = request(1, seq, 10)
            send(payload, timeout=30)  # acknowledged: durable in the log
            ids.append(spans)
    receiver.kill()

    segment, data = the_segment(receiver)
    offset = record_offset(data, 50)
    data[offset + (HEADER.size + 40 if where == "payload" else 9)] ^= 0x24
    segment.write_bytes(bytes(data))

    restart_over_one_damaged_record(receiver)

    counts = stored_span_counts(receiver.data_dir)
    assert counts == {span: 1 for i, spans in enumerate(ids) if i != 50 for span in spans}
    [letter] = (receiver.data_dir / "dead-letter").glob("*.json")
    reason = json.loads(letter.read_text())
    assert reason["kind"] == "log_damage" and reason["offset"] == offset
    assert "damaged" in reason["reason"]
    kept = (letter.parent / reason["data_file"]).read_bytes()
    assert bytes(data[offset : offset + len(kept)]) == kept and len(kept) >= HEADER.size
    log = receiver.log()
    assert "damaged bytes in segment" in log and "never acknowledged" not in log
