"""A client's payload cannot forge a log record: damage before it never resynchronises onto
bytes the client chose.

Before, a span whose bytes attribute held a complete ``EXW1`` record (header, CRC and a request
for 3 spans of service FORGED) was stored as those 3 spans once a bit of the real record's
magic flipped and the receiver restarted: reading resumed at the first header whose checksum
matched, inside the client's payload. Now records carry a tag keyed with a secret of the log
directory, and only such records are resynchronised to.
"""

import hashlib
import os
import zlib

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from exptrace.ingest.log.wal import HEADER, Signal
from tests.ingest.crashload import (
    TRACE_METHOD,
    Receiver,
    record_offset,
    request,
    restart_over_one_damaged_record,
    stored,
    stored_span_counts,
    the_segment,
)


def forged_records() -> bytes:
    """An old-form record (its CRC-32 is public) and a new-form one tagged with a guessed key,
    each wrapping a request for 3 spans of service ``FORGED``."""
    payload, _ = request(9, 0, 3)
    forged = ExportTraceServiceRequest.FromString(payload)
    forged.resource_spans[0].resource.attributes[0].value.string_value = "FORGED"
    body = forged.SerializeToString()
    crc = zlib.crc32(body, zlib.crc32(bytes((Signal.TRACES,))))
    old = HEADER.pack(b"EXW1", Signal.TRACES, len(body), crc) + body
    mac = hashlib.blake2b(bytes((Signal.TRACES,)), key=os.urandom(32), digest_size=4)
    mac.update(body)
    tag = int.from_bytes(mac.digest(), "little")
    new = HEADER.pack(b"EXW2", Signal.TRACES, len(body), tag) + body
    return old + new


def carrier(seq: int) -> tuple[bytes, list[str]]:
    """A real export from sender 2 whose first span holds the forged records as an attribute."""
    payload, ids = request(2, seq, 4)
    message = ExportTraceServiceRequest.FromString(payload)
    span = message.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="blob", value=AnyValue(bytes_value=forged_records())))
    return message.SerializeToString(), ids


@pytest.mark.slow
def test_records_inside_a_payload_are_never_resynchronised_to(tmp_path):
    receiver = Receiver(tmp_path / "data", EXPTRACE_FLUSH_INTERVAL="3600")
    receiver.start()
    receiver.wait_ready()
    ids: list[list[str]] = []
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        send = channel.unary_unary(TRACE_METHOD)
        for seq in range(11):
            payload, spans = carrier(seq) if seq == 5 else request(1, seq, 10)
            send(payload, timeout=30)  # acknowledged: durable in the log
            ids.append(spans)
    receiver.kill()

    segment, data = the_segment(receiver)
    offset = record_offset(data, 5)  # the record carrying the forgeries
    assert forged_records()[:4] in data[offset:]  # the client's bytes are in the log as sent
    data[offset + 1] ^= 0x20  # one bit of the real record's magic
    segment.write_bytes(bytes(data))

    restart_over_one_damaged_record(receiver)

    counts = stored_span_counts(receiver.data_dir)
    assert counts == {span: 1 for i, spans in enumerate(ids) if i != 5 for span in spans}
    assert len(counts) == 100
    services = stored(receiver.data_dir, "SELECT DISTINCT ServiceName FROM otel_traces")
    assert services == [["crash"]]  # nothing of service FORGED
    # The dead letter holds the damaged record whole, and nothing after it.
    end = offset + HEADER.size + HEADER.unpack_from(data, offset)[2]
    [letter] = (receiver.data_dir / "dead-letter").glob("*.bin")
    assert letter.read_bytes() == bytes(data[offset:end])
