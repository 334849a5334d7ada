"""A record the engine rejects is isolated and kept with its reason; the rest of the batch lands."""

import json

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from exptrace.ingest.log.wal import Signal
from tests.ingest.helpers import query


def test_bad_record_goes_to_dead_letter_and_neighbours_land(receiver):
    from tests.ingest.helpers import make_spans

    good = [encode_spans(make_spans(f"svc-{i}", 2)).SerializeToString() for i in range(5)]
    # Bytes that passed the door in an older version (or were corrupted on the way to the
    # store) but that the engine cannot parse: a field with a wrong wire type.
    bad = b"\x0a\x05\xff\xff\xff\xff\xff"
    for payload in (*good[:2], bad, *good[2:]):
        receiver.wal.append_durable(Signal.TRACES, payload)
    rows = query(receiver, "SELECT count(), uniqExact(ServiceName) FROM otel_traces")
    assert rows == [[10, 5]]
    letters = sorted((receiver.settings.data_dir / "dead-letter").glob("*.json"))
    assert len(letters) == 1
    reason = json.loads(letters[0].read_text())
    assert reason["signal"] == "traces" and reason["error_code"]
    assert (letters[0].parent / reason["data_file"]).read_bytes() == bad
    assert receiver.stats.dead_letters["traces"] == 1
    assert receiver.wal.total_bytes == 0  # the segment was trimmed once everything else landed
