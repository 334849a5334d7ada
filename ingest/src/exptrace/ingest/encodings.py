"""HTTP request bodies in the encodings the OTLP exporters send, inflated within a bound.

gzip, deflate (zlib), zstd and snappy. Snappy comes in two forms under one name: the
Collector's ``otlphttp`` exporter (0.135) sends the block format as ``snappy`` and the framed
format as ``x-snappy-framed``, while older Collectors sent framed data as ``snappy``; so, as
the Collector's own receivers do, ``snappy`` is told apart by the framed stream identifier.
No body inflates past ``limit`` bytes: each decoder stops there or checks the sizes the
stream declares before inflating. A stream that is cut short, fails its checksum or carries
bytes after its end is corrupt."""

from __future__ import annotations

import sys
import zlib

import cramjam

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


class BodyError(Exception):
    """A request body that cannot be taken; ``status`` and ``reason`` say how it is refused."""

    status = 400
    reason = "malformed"


class Corrupt(BodyError):
    """Not a valid stream in the encoding it claims."""


class TooLarge(BodyError):
    """Over the request size bound, on the wire or inflated."""

    status = 413
    reason = "too_large"


class UnsupportedEncoding(BodyError):
    status = 415
    reason = "unsupported_encoding"


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


def _zlib_members(body: bytes, limit: int, wbits: int, name: str) -> bytes:
    """Every member of a gzip (or the one zlib) stream; nothing may follow the last."""
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as error:
            raise Corrupt(f"invalid {name} body: {error}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise TooLarge(f"request body over {limit} bytes once inflated")
        if not inflater.eof:
            raise Corrupt(f"invalid {name} body: cut short (no end of stream or checksum)")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if wbits != _GZIP or not rest.startswith(b"\x1f\x8b"):
            raise Corrupt(f"invalid {name} body: {len(rest)} bytes after the end of the stream")


_GZIP = 16 + zlib.MAX_WBITS


def _gzip(body: bytes, limit: int) -> bytes:
    return _zlib_members(body, limit, _GZIP, "gzip")


def _deflate(body: bytes, limit: int) -> bytes:
    return _zlib_members(body, limit, zlib.MAX_WBITS, "deflate (zlib)")


def _zstd(body: bytes, limit: int) -> bytes:
    out = bytearray()
    rest = body
    while rest:
        decompressor = zstd.ZstdDecompressor()
        try:
            out += decompressor.decompress(rest, max_length=limit + 1 - len(out))
        except zstd.ZstdError as error:
            raise Corrupt(f"invalid zstd body: {error}") from None
        if len(out) > limit:
            raise TooLarge(f"request body over {limit} bytes once inflated")
        if not decompressor.eof:
            raise Corrupt("invalid zstd body: cut short (no end of frame)")
        rest = decompressor.unused_data
    return bytes(out)


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
