"""Slow HTTP senders cannot starve the receiver.

Before: connections that trickle their headers or body stayed open forever, and at about
520 of them ``/healthz``, exports and the API all answered 503. Now 1,000 such connections
(500 slow headers, 500 slow bodies) are open while health checks and exports from
well-behaved clients keep working, and each slow connection is cut once its deadline passes
even though it keeps sending a byte now and then, with ``408 Request Timeout`` (before, a
slow body's connection just closed).
"""

import contextlib
import selectors
import socket
import time

import httpx
import pytest

from tests.ingest.door import grpc_export, http_post, span, traces
from tests.ingest.helpers import query, wait_for

SLOW = 500  # of each kind


def _open(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(first)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the receiver has hung up (an optional 408 first, then end of stream)."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


@pytest.mark.slow
def test_a_thousand_slow_connections_do_not_stop_health_or_exports(make_receiver):
    server = make_receiver(http_header_timeout=15.0, http_body_timeout=15.0)
    port = server.http_port
    slow: list[socket.socket] = []
    trickle: dict[socket.socket, bytes] = {}
    try:
        for _ in range(SLOW):
            sock = _open(port, b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
            trickle[sock] = b"x-trickle: 1\r\n"  # one more header line, never the last
            sock = _open(
                port,
                b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n\x0a",
            )
            trickle[sock] = b"\x00"  # one more body byte, of 1000 announced
        slow = list(trickle)
        # While all of them are open, the receiver answers everyone else.
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200
        # Two distinct exports: identical bytes would be recognised as a retry, stored once.
        request = traces("well-behaved", [span("op")]).SerializeToString()
        assert http_post(port, "/v1/traces", request).status_code == 200
        grpc_export(server.grpc_port, traces("well-behaved", [span("op")]).SerializeToString())
        still_open = sum(not _closed_by_server(sock) for sock in slow)
        assert still_open > SLOW  # most slow connections were still held at that moment

        # Trickling keeps nothing alive past the deadline: every slow connection is cut.
        def all_cut() -> bool:
            for sock, more in trickle.items():
                with contextlib.suppress(OSError):
                    sock.send(more)
            return all(_closed_by_server(sock) for sock in slow)

        wait_for(all_cut, timeout=120, interval=1.0)
        assert query(server, "SELECT count() FROM otel_traces") == [[2]]
        snap = server.stats.snapshot().refused
        assert snap[("unknown", "headers_timeout")] == SLOW
        assert snap[("unknown", "body_timeout")] == SLOW
    finally:
        for sock in slow:
            sock.close()


def test_a_slow_header_gets_408_and_a_quick_client_on_the_same_port_does_not(make_receiver):
    server = make_receiver(http_header_timeout=1.0)
    selector = selectors.DefaultSelector()
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        answer = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        # A client that sends its request at once is unaffected by the deadline.
        with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}") as client:
            for _ in range(3):
                assert client.get("/healthz").status_code == 200
    finally:
        selector.close()
        sock.close()


def _read_until_closed(sock: socket.socket, patience: float = 60.0) -> bytes:
    """Everything the receiver sends until it hangs up (or ``patience`` runs out)."""
    selector = selectors.DefaultSelector()
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ)
    answer = b""
    deadline = time.monotonic() + patience
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                answer += chunk
    finally:
        selector.close()
    return answer


def test_a_body_sent_too_slowly_is_answered_408(make_receiver):
    """The client that sent its headers and 2 of 100 announced body bytes reads
    ``HTTP/1.1 408 Request Timeout`` before the connection closes, and it is counted."""
    server = make_receiver(http_body_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
            b"content-length: 100\r\n\r\n\x0a\x00"
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert server.stats.snapshot().refused[("unknown", "body_timeout")] == 1
    # The receiver goes on answering others.
    request = traces("after-slow-body", [span("op")]).SerializeToString()
    assert http_post(server.http_port, "/v1/traces", request).status_code == 200
