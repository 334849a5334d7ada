"""The one bearer-token check of OTLP/HTTP, OTLP/gRPC, ``/metrics`` and the API."""

from __future__ import annotations

import hmac

_SCHEME = b"bearer"


def bearer_matches(header: str | bytes | None, token: str) -> bool:
    """Does the ``Authorization`` value ``header`` carry ``Bearer <token>``?

    The scheme is matched in any case (RFC 7235), followed by one or more spaces; the
    token is compared in constant time, byte for byte.
    """
    if header is None:
        return False
    raw = header.encode("latin-1", "replace") if isinstance(header, str) else header
    scheme, _, credentials = raw.partition(b" ")
    given = credentials.lstrip(b" ")
    # Compare even when the scheme is wrong, so the time taken says nothing about the token.
    token_ok = hmac.compare_digest(given, token.encode())
    return scheme.lower() == _SCHEME and token_ok
