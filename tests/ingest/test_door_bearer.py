"""The bearer scheme is matched case-insensitively everywhere a token is asked for.

``Authorization: bearer <token>`` (any spelling of the scheme, valid under RFC 7235) is let in
on OTLP/HTTP, OTLP/gRPC, ``/metrics`` and the API; the token itself must match exactly.
(Before: a lower-case scheme was refused with 401/UNAUTHENTICATED.)
"""

import grpc
import httpx
import pytest

from exptrace.ingest.door.http_receiver import bearer_check
from exptrace.query import Queries, Registry, schema_parts
from exptrace.query.web.http_api import api_routes
from tests.ingest.door import TRACE_METHOD, http_post, span, traces
from tests.ingest.helpers import query


def _grpc_export(port: int, payload: bytes, authorization: str) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        return call(payload, timeout=30, metadata=(("authorization", authorization),))


@pytest.fixture
def query_parts() -> dict:
    """The receiver serves the query API: its store gets the query's tables and views."""
    return schema_parts()


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive_everywhere(make_receiver, scheme):
    """Any spelling of the scheme with the right token is let in on OTLP/HTTP, OTLP/gRPC,
    /metrics and the API; the token itself still has to match exactly."""

    def with_api(server):
        registry = Registry(server.store)
        queries = Queries(server.store, registry)
        server.add_routes(api_routes(queries, registry, bearer_check(server.settings.token)))

    server = make_receiver(prepare=with_api, token="s3cret")
    good, wrong = f"{scheme} s3cret", f"{scheme} S3CRET"
    request = traces(f"scheme-{scheme}", [span("op")]).SerializeToString()
    base = f"http://127.0.0.1:{server.http_port}"

    assert http_post(server.http_port, "/v1/traces", request, authorization=good).status_code == 200
    assert (
        http_post(server.http_port, "/v1/traces", request, authorization=wrong).status_code == 401
    )
    assert _grpc_export(server.grpc_port, request, good) == b""
    with pytest.raises(grpc.RpcError) as refused:
        _grpc_export(server.grpc_port, request, wrong)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert httpx.get(f"{base}/metrics", headers={"authorization": good}).status_code == 200
    api = httpx.get(f"{base}/api/v1/experiments", headers={"authorization": good})
    assert api.status_code == 200, api.text
    assert (
        httpx.get(f"{base}/api/v1/experiments", headers={"authorization": wrong}).status_code == 401
    )
    assert query(server, "SELECT count() FROM otel_traces") == [[1]]  # one export, sent twice
