"""Is a listening address free? One line saying why not, before a server library tries.

grpcio reports a failed bind with a multi-line log of its own, uvicorn with an ``ERROR:``
line of its own; a plain bind of the same address first says the same thing once.
"""

from __future__ import annotations

import errno
import os
import socket

from exptrace.ingest.errors import CannotListen
from exptrace.ingest.settings import split_endpoint


def refuse_if_taken(endpoint: str, purpose: str) -> None:
    """Raise OSError, in one line naming ``endpoint`` and ``purpose``, when it cannot be bound
    (another process listens there, or the address is not this machine's)."""
    host, port = split_endpoint(endpoint)
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise CannotListen(f"cannot listen on {endpoint} for {purpose}: {error.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                reason = (
                    "the port is in use"
                    if error.errno == errno.EADDRINUSE
                    else os.strerror(error.errno or 0).lower()
                )
                raise CannotListen(f"cannot listen on {endpoint} for {purpose}: {reason}") from None
