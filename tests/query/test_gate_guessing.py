"""Token guesses at the OTLP doors and ``/metrics`` are rate-limited like the API's.

Before: 2,000 wrong tokens on ``/metrics`` at 3,820/s all met 401 and the right one was then
taken; OTLP/HTTP and OTLP/gRPC were not limited either. Now, on the real ``exptrace up``, one
limiter counts an address's failures at every door: after 10, OTLP/HTTP answers 429 with
``Retry-After`` (an exporter retries it, where it drops a 401), gRPC ``RESOURCE_EXHAUSTED``
with a ``RetryInfo``, ``/metrics`` 429, and the right token waits too, while other addresses
are let in.
"""

from __future__ import annotations

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2

from tests.ingest.door import TRACE_METHOD, span, traces
from tests.ingest.helpers import wait_for
from tests.query.exptrace_cli import Server

TOKEN = "s3cret-token"
WRONG = {"authorization": "Bearer guess"}
RIGHT = {"authorization": f"Bearer {TOKEN}"}
PROTOBUF = {"content-type": "application/x-protobuf"}


def _from(address: str, base: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x address is loopback)."""
    return httpx.Client(
        base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=60
    )


class _Grpc:
    """Trace exports over one gRPC channel (from 127.0.0.1)."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.export = self.channel.unary_unary(TRACE_METHOD)
        self.body = traces("guess", [span("op")]).SerializeToString()

    def call(self, token: str) -> tuple[grpc.StatusCode, grpc.Call | None]:
        try:
            self.export(self.body, timeout=60, metadata=(("authorization", f"Bearer {token}"),))
        except grpc.RpcError as error:
            return error.code(), error
        return grpc.StatusCode.OK, None


def test_wrong_tokens_are_limited_at_otlp_http_grpc_and_metrics(tmp_path):
    server = Server(tmp_path / "data", EXPTRACE_TOKEN=TOKEN).start()
    export = traces("guess", [span("op")]).SerializeToString()
    try:
        with _from("127.0.0.2", server.url) as guesser, _from("127.0.0.3", server.url) as other:
            statuses = []
            for _ in range(15):
                answer = guesser.post("/v1/traces", content=export, headers=PROTOBUF | WRONG)
                statuses.append(answer.status_code)
            assert statuses == [401] * 10 + [429] * 5, statuses
            assert int(answer.headers["retry-after"]) >= 1
            assert status_pb2.Status.FromString(answer.content).code == 8  # RESOURCE_EXHAUSTED
            limited = guesser.post("/v1/traces", content=export, headers=PROTOBUF | RIGHT)
            assert limited.status_code == 429  # even the right token waits
            assert guesser.get("/metrics", headers=RIGHT).status_code == 429  # one limiter
            answer = other.post("/v1/traces", content=export, headers=PROTOBUF | RIGHT)
            assert answer.status_code == 200

        with _from("127.0.0.4", server.url) as scraper:
            statuses = [scraper.get("/metrics", headers=WRONG).status_code for _ in range(15)]
            assert statuses == [401] * 10 + [429] * 5, statuses
            limited = scraper.get("/metrics", headers=RIGHT)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1

        client = _Grpc(server.grpc_port)
        codes = [client.call("guess")[0] for _ in range(12)]
        unauthenticated = grpc.StatusCode.UNAUTHENTICATED
        assert codes[:10] == [unauthenticated] * 10, codes
        assert codes[10:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2, codes
        code, call = client.call(TOKEN)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(call.trailing_metadata())
        delay = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert delay.retry_delay.seconds >= 1
        # Once the wait is over, the right token goes through (one attempt per second).
        wait_for(lambda: client.call(TOKEN)[0] == grpc.StatusCode.OK, 60, 0.5)
        client.channel.close()
    finally:
        server.stop()
