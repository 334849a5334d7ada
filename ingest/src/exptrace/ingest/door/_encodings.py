"""HTTP request bodies in the encodings the OTLP exporters send, inflated within a bound.

gzip, deflate (zlib), zstd and snappy. Snappy comes in two forms under one name: the
Collector's ``otlphttp`` exporter (0.135) sends the block format as ``snappy`` and the framed
format as ``x-snappy-framed``, while older Collectors sent framed data as ``snappy``; so, as
the Collector's own receivers do, ``snappy`` is told apart by the framed stream identifier.
No body inflates past ``limit`` bytes: each decoder stops there or checks the sizes the
stream declares before inflating. A stream that is cut short, fails its checksum or carries
bytes after its end is corrupt.

gzip members and zstd frames may follow one another; the work is linear in the body (each
decoder is fed the body in pieces that start small and double while its member lasts, so it
is handed at most twice its member plus :data:`_FIRST_PIECE` bytes) and at most
:data:`MAX_MEMBERS` members are taken."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from typing import Protocol

import cramjam

from exptrace.ingest.errors import Corrupt, TooLarge, TooManyMembers, UnsupportedEncoding

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


def decode(encoding: str, body: bytes, limit: int) -> bytes:
    """``body`` decoded from ``Content-Encoding`` ``encoding``, at most ``limit`` bytes."""
    decoder = DECODERS.get(encoding.strip().lower() or "identity")
    if decoder is None:
        names = ", ".join(sorted(DECODERS))
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported (use {names})")
    out = decoder(body, limit)
    if len(out) > limit:
        raise TooLarge(f"request body over {limit} bytes")
    return out


def _identity(body: bytes, limit: int) -> bytes:
    return body


MAX_MEMBERS = 1000
"""Most gzip members or zstd frames one body may hold (exporters send one)."""
_FIRST_PIECE = 32
_LARGEST_PIECE = 1 << 20


class _Decoder(Protocol):
    """What zlib's and zstd's streaming decompressors have in common."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: memoryview, max_length: int) -> bytes: ...


def _members(
    body: bytes,
    limit: int,
    new_decoder: Callable[[], _Decoder],
    errors: type[Exception] | tuple[type[Exception], ...],
    name: str,
    next_member: Callable[[memoryview], bool],
) -> bytes:
    """Inflate ``body``, member after member, into at most ``limit`` bytes.

    ``next_member`` says whether the bytes after a member start another one (else they are
    bytes after the end of the stream: corrupt)."""
    view = memoryview(body)
    out = bytearray()
    at = members = 0
    while True:
        members += 1
        if members > MAX_MEMBERS:
            raise TooManyMembers(f"more than {MAX_MEMBERS} {name} members in one body")
        decoder = new_decoder()
        piece = _FIRST_PIECE
        while not decoder.eof:
            if at >= len(view):
                raise Corrupt(f"invalid {name} body: cut short (no end of stream or checksum)")
            chunk = view[at : at + piece]
            try:
                out += decoder.decompress(chunk, limit + 1 - len(out))
            except errors as error:
                raise Corrupt(f"invalid {name} body: {error}") from None
            if len(out) > limit:
                raise TooLarge(f"request body over {limit} bytes once inflated")
            at += len(chunk) - len(decoder.unused_data)
            piece = min(2 * piece, _LARGEST_PIECE)
        if at == len(view):
            return bytes(out)
        if not next_member(view[at:]):
            raise Corrupt(
                f"invalid {name} body: {len(view) - at} bytes after the end of the stream"
            )


_GZIP = 16 + zlib.MAX_WBITS


def _gzip(body: bytes, limit: int) -> bytes:
    return _members(
        body,
        limit,
        lambda: zlib.decompressobj(_GZIP),
        zlib.error,
        "gzip",
        lambda rest: rest[:2] == b"\x1f\x8b",
    )


def _deflate(body: bytes, limit: int) -> bytes:
    return _members(
        body,
        limit,
        lambda: zlib.decompressobj(zlib.MAX_WBITS),
        zlib.error,
        "deflate (zlib)",
        lambda rest: False,
    )


def _zstd(body: bytes, limit: int) -> bytes:
    if not body:
        return b""
    return _members(body, limit, zstd.ZstdDecompressor, zstd.ZstdError, "zstd", lambda rest: True)


_SNAPPY_STREAM_ID = b"\xff\x06\x00\x00sNaPpY"


def _varint(data: bytes, at: int = 0) -> tuple[int, int]:
    """A protobuf-style varint (snappy's length prefix) and the offset after it."""
    value = shift = 0
    for offset in range(at, min(at + 5, len(data))):
        value |= (data[offset] & 0x7F) << shift
        if not data[offset] & 0x80:
            return value, offset + 1
        shift += 7
    raise Corrupt("invalid snappy body: bad length prefix")


def _snappy(body: bytes, limit: int) -> bytes:
    if body.startswith(_SNAPPY_STREAM_ID):
        return _snappy_framed(body, limit)
    size, _ = _varint(body)
    if size > limit:
        raise TooLarge(f"request body over {limit} bytes once inflated")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as error:
        raise Corrupt(f"invalid snappy body: {error}") from None


def _snappy_framed(body: bytes, limit: int) -> bytes:
    """The framing format: the inflated size is bounded chunk by chunk before inflating."""
    if not body.startswith(_SNAPPY_STREAM_ID):
        raise Corrupt("invalid snappy framed body: no stream identifier")
    total = offset = 0
    while offset < len(body):
        if offset + 4 > len(body):
            raise Corrupt("invalid snappy framed body: cut short")
        kind = body[offset]
        length = int.from_bytes(body[offset + 1 : offset + 4], "little")
        chunk = body[offset + 4 : offset + 4 + length]
        if len(chunk) != length:
            raise Corrupt("invalid snappy framed body: cut short")
        if kind == 0x00:  # compressed: CRC-32C, then a snappy block
            total += _varint(chunk, 4)[0]
        elif kind == 0x01:  # uncompressed: CRC-32C, then the data
            total += length - 4
        if total > limit:
            raise TooLarge(f"request body over {limit} bytes once inflated")
        offset += 4 + length
    try:
        return bytes(cramjam.snappy.decompress(body))
    except cramjam.DecompressionError as error:
        raise Corrupt(f"invalid snappy framed body: {error}") from None


DECODERS = {
    "identity": _identity,
    "gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
    "snappy": _snappy,
    "x-snappy-framed": _snappy_framed,
}
