"""What arrives at the door is either taken whole or refused with a 4xx, never a 500.

Covers OTLP/JSON that is not an object or nests too deeply (400), OTLP/JSON with fields this
receiver does not know (accepted: the specification says receivers MUST ignore them), every
Content-Encoding the Collector's exporters send (gzip, deflate, zstd, snappy block and framed)
inside one inflation bound, damaged gzip (400), and protobuf that upb accepts but the engine
would refuse (a oneof sent twice, a field with the wrong wire type, a group): it is stored as
upb decoded it and the exports after it land too.
"""

import gzip
import json
import time
import zlib

import cramjam
import httpx
import pytest
from backports import zstd
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.ingest.door import grpc_export, http_post, otlp_json, span, traces
from tests.ingest.helpers import query

JSON = {"content-type": "application/json"}


def services(server):
    return query(
        server, "SELECT ServiceName, count() FROM otel_traces GROUP BY ServiceName ORDER BY 1"
    )


def test_json_that_is_not_an_otlp_object_is_400_and_serving_goes_on(make_receiver):
    server = make_receiver()
    deep = b"[" * 1000 + b"]" * 1000
    deeper = b'{"resourceSpans":' * 1000 + b"[]" + b"}" * 1000
    for body in (b"null", b"123", b"true", b'"text"', b"[]", deep, deeper):
        answer = http_post(server.http_port, "/v1/traces", body, **JSON)
        assert answer.status_code == 400, body[:20]
        assert "not a valid OTLP/JSON request" in answer.json()["message"]
    request = traces("after-bad-json", [span("ok")])
    assert http_post(server.http_port, "/v1/traces", otlp_json(request), **JSON).status_code == 200
    assert services(server) == [["after-bad-json", 1]]


def test_json_with_unknown_fields_is_accepted(make_receiver):
    """A newer SDK may send fields this receiver's OTLP version does not have."""
    server = make_receiver()
    document = json.loads(otlp_json(traces("newer-sdk", [span("op")])))
    document["someFutureField"] = {"nested": [1, 2, 3]}
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["futureSpanField"] = "x"
    answer = http_post(server.http_port, "/v1/traces", json.dumps(document).encode(), **JSON)
    assert answer.status_code == 200, answer.text
    assert services(server) == [["newer-sdk", 1]]


ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "zstd": zstd.compress,
    "snappy": lambda data: bytes(cramjam.snappy.compress_raw(data)),
    "snappy-framed": lambda data: bytes(cramjam.snappy.compress(data)),
    "x-snappy-framed": lambda data: bytes(cramjam.snappy.compress(data)),
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_collector_encoding_is_accepted_within_the_inflation_bound(make_receiver, name):
    server = make_receiver(max_request_bytes=64 * 1024)
    encoding = "snappy" if name == "snappy-framed" else name
    compress = ENCODERS[name]
    payload = traces(f"enc-{name}", [span(f"op-{i}") for i in range(3)]).SerializeToString()
    answer = http_post(
        server.http_port, "/v1/traces", compress(payload), **{"content-encoding": encoding}
    )
    assert answer.status_code == 200, answer.text
    bomb = compress(b"\x0a" + b"\x00" * (4 << 20))  # a few KiB on the wire, 4 MiB inflated
    answer = http_post(server.http_port, "/v1/traces", bomb, **{"content-encoding": encoding})
    assert answer.status_code == 413
    cut = compress(payload)[:-6]
    answer = http_post(server.http_port, "/v1/traces", cut, **{"content-encoding": encoding})
    assert answer.status_code == 400
    assert services(server) == [[f"enc-{name}", 3]]


def test_damaged_gzip_is_refused_as_corrupt(make_receiver):
    server = make_receiver()
    payload = traces("gzip-ok", [span("op")]).SerializeToString()
    whole = gzip.compress(payload)
    for body, why in (
        (whole[:-8], "CRC and length trailer cut off"),
        (whole[:-4], "length cut off"),
        (whole + b"junk after the stream", "junk after it"),
        (whole[:-8] + b"\x00" * 8, "wrong CRC"),
    ):
        answer = http_post(server.http_port, "/v1/traces", body, **{"content-encoding": "gzip"})
        assert answer.status_code == 400, why
        assert "invalid gzip body" in answer.content.decode(errors="replace")
    two_members = whole + gzip.compress(b"")  # concatenated members are valid gzip
    answer = http_post(server.http_port, "/v1/traces", two_members, **{"content-encoding": "gzip"})
    assert answer.status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").text
    assert 'exptrace_ingest_requests_refused_total{signal="traces",reason="malformed"} 4' in metrics
    assert services(server) == [["gzip-ok", 1]]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, body: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def _raw_request(service: str, span_extra: bytes) -> bytes:
    """A trace export written by hand, so that it can carry what no encoder would write."""
    now = time.time_ns()
    span_bytes = (
        _field(1, b"\x01" * 16)
        + _field(2, b"\x02" * 8)
        + _field(5, b"poison")
        + b"\x39"  # field 7 (start_time_unix_nano), fixed64
        + now.to_bytes(8, "little")
        + b"\x41"  # field 8 (end_time_unix_nano), fixed64
        + (now + 1000).to_bytes(8, "little")
        + span_extra
    )
    service_attr = _field(1, b"service.name") + _field(2, _field(1, service.encode()))
    resource = _field(1, _field(1, service_attr))
    return _field(1, resource + _field(2, _field(2, span_bytes)))


def _attribute(any_value: bytes) -> bytes:
    return _field(9, _field(1, b"k") + _field(2, any_value))


POISON = {
    # AnyValue with string_value "a" and then int_value 1: upb keeps the last one
    "oneof-twice": _attribute(b"\x0a\x01\x61\x18\x01"),
    "wrong-wire-type": b"\x28\x07",  # field 5 (name, a string) sent as a varint
    "group": b"\xa3\x06\x08\x01\xa4\x06",  # an unknown field 100 as a group
}


@pytest.mark.parametrize("kind", sorted(POISON))
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_protobuf_upb_accepts_but_the_engine_would_refuse_is_stored_canonically(
    make_receiver, kind, transport
):
    """Before: acknowledged, then refused by the engine forever, and nothing after it stored."""
    server = make_receiver()
    poison = _raw_request(f"poison-{kind}", POISON[kind])
    truth = KeyValue(key="k", value=AnyValue(int_value=1))
    following = traces("after-poison", [span("next", attributes=[truth])]).SerializeToString()
    for payload in (poison, following):
        if transport == "grpc":
            grpc_export(server.grpc_port, payload)
        else:
            assert http_post(server.http_port, "/v1/traces", payload).status_code == 200
    assert services(server) == [["after-poison", 1], [f"poison-{kind}", 1]]
    if kind == "oneof-twice":
        rows = query(
            server, "SELECT SpanAttributes['k'] FROM otel_traces ORDER BY SpanName = 'poison'"
        )
        assert rows[0] == rows[1] != ["a"]  # what upb decoded: the last value, int 1
    assert server.stats.snapshot().dead_letters == {}


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_concatenated_members_are_bounded_in_number(make_receiver, encoding):
    """Before: a 1 MiB body of empty zstd frames (gzip members) took 4.6 s (0.8 s) of CPU,
    quadratic in the body, holding every HTTP request. Now the 1,001st member is refused
    (413) at once; up to 1,000 members, the export is taken whole."""
    from exptrace.ingest.door._encodings import MAX_MEMBERS

    server = make_receiver()
    compress = ENCODERS[encoding]
    payload = traces(f"members-{encoding}", [span("op")]).SerializeToString()
    taken = compress(payload) + compress(b"") * (MAX_MEMBERS - 1)
    answer = http_post(server.http_port, "/v1/traces", taken, **{"content-encoding": encoding})
    assert answer.status_code == 200, answer.text
    bomb = compress(b"") * ((1 << 20) // len(compress(b"")))
    answer = http_post(server.http_port, "/v1/traces", bomb, **{"content-encoding": encoding})
    assert answer.status_code == 413
    assert f"more than {MAX_MEMBERS} {encoding} members" in answer.content.decode(errors="replace")
    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").text
    refused = 'exptrace_ingest_requests_refused_total{signal="traces",reason="too_many_members"} 1'
    assert refused in metrics
    assert services(server) == [[f"members-{encoding}", 1]]


def test_bodies_beyond_the_decoding_queue_get_503_with_retry_after(make_receiver, monkeypatch):
    """Bodies are inflated and parsed on the receiver's Offload; when its workers are busy
    and its queue is full, an export is told to come back (503, Retry-After) and nothing of
    it is kept; it is taken once there is room."""
    import threading

    from exptrace.ingest import server as server_module
    from exptrace.ingest.door import http_receiver
    from exptrace.ingest.door.offload import Offload

    release, started = threading.Event(), threading.Event()
    decode_for_real = http_receiver._decoded

    def held(*args):
        started.set()
        assert release.wait(60)
        return decode_for_real(*args)

    monkeypatch.setattr(server_module, "Offload", lambda: Offload(workers=1, queue=0))
    monkeypatch.setattr(http_receiver, "_decoded", held)
    server = make_receiver(retry_after=7)
    first = traces("first", [span("op")]).SerializeToString()
    answers = {}
    sender = threading.Thread(
        target=lambda: answers.update(first=http_post(server.http_port, "/v1/traces", first))
    )
    sender.start()
    assert started.wait(60)
    busy = http_post(
        server.http_port, "/v1/traces", traces("busy", [span("op")]).SerializeToString()
    )
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    release.set()
    sender.join(60)
    assert answers["first"].status_code == 200
    again = traces("busy", [span("op")]).SerializeToString()
    assert http_post(server.http_port, "/v1/traces", again).status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{server.http_port}/metrics").text
    assert 'exptrace_ingest_requests_refused_total{signal="traces",reason="busy"} 1' in metrics
    assert services(server) == [["busy", 1], ["first", 1]]


def test_the_decoding_pool_has_two_workers_and_a_queue_of_64_and_a_lane_for_small_bodies():
    """Large bodies: two workers and 64 waiting; small ones: a worker of their own and 64
    waiting, taken while the large lane is full."""
    import asyncio
    import threading

    from exptrace.ingest.door.offload import Offload
    from exptrace.ingest.errors import Busy

    release = threading.Event()
    running = []

    def job() -> int:
        running.append(threading.current_thread().name)
        assert release.wait(60)
        return 1

    def small_job() -> int:
        running.append(threading.current_thread().name)
        return 2

    async def fill() -> list[int]:
        offload = Offload()
        jobs = [asyncio.ensure_future(offload.run(job, small=False)) for _ in range(2 + 64)]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await offload.run(job, small=False)
        assert await offload.run(small_job, small=True) == 2  # while the large lane is full
        held = [asyncio.ensure_future(offload.run(job, small=True)) for _ in range(1 + 64)]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await offload.run(small_job, small=True)
        release.set()
        return await asyncio.gather(*jobs, *held)

    assert asyncio.run(fill()) == [1] * (66 + 65)
    assert len({name for name in running if "small" not in name}) == 2
    assert len({name for name in running if "small" in name}) == 1


def test_inflating_concatenated_members_feeds_each_byte_to_a_decoder_about_once(monkeypatch):
    """Linear work: the decoders are handed at most a few times the body, however many
    members it holds (before: each member was handed the whole rest of the body)."""
    import types

    from exptrace.ingest.door import _encodings as encodings

    fed = [0]

    class Counting:
        def __init__(self) -> None:
            self.real = zstd.ZstdDecompressor()

        def decompress(self, data, max_length):
            fed[0] += len(data)
            return self.real.decompress(data, max_length)

        eof = property(lambda self: self.real.eof)
        unused_data = property(lambda self: self.real.unused_data)

    counting = types.SimpleNamespace(ZstdDecompressor=Counting, ZstdError=zstd.ZstdError)
    monkeypatch.setattr(encodings, "zstd", counting)
    frame = zstd.compress(b"\x0a\x00" * 200)
    body = frame * encodings.MAX_MEMBERS
    assert encodings.decode("zstd", body, 1 << 20) == b"\x0a\x00" * 200 * encodings.MAX_MEMBERS
    assert fed[0] <= 3 * len(body), (fed[0], len(body))
