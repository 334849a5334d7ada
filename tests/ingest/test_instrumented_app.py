"""A real app instrumented with exptrace-propagation exports through the SDK into the store.

The SDK wiring is the demo's (`exptrace.query.demo.telemetry`): what a service would configure.
"""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from exptrace.query.demo import instrument, telemetry
from tests.ingest.helpers import query


def test_tagged_requests_arrive_with_experiments_in_all_three_tables(receiver):
    t = telemetry("checkout-app", f"127.0.0.1:{receiver.grpc_port}")

    async def pay(request):
        t.log.warning("payment taken")
        return PlainTextResponse("paid")

    client = TestClient(instrument(Starlette(routes=[Route("/pay", pay)]), t))
    for variant in ("control", "B", "B"):
        assert client.get("/pay", headers={"x-experiment": f"checkout-v2={variant}"}).text == "paid"
    assert client.get("/pay").text == "paid"  # untagged traffic lands too, with no assignment
    t.shutdown()

    servers = query(
        receiver,
        """
        SELECT Experiments['checkout-v2'] AS v, count() FROM otel_traces
        WHERE ServiceName = 'checkout-app' AND SpanKind = 'Server' GROUP BY v ORDER BY v""",
    )
    assert servers == [["", 1], ["B", 2], ["control", 1]]
    logs = query(
        receiver,
        "SELECT Experiments['checkout-v2'] AS v, count() FROM otel_logs WHERE ServiceName = 'checkout-app' GROUP BY v ORDER BY v",
        flush=False,
    )
    assert logs == [["", 1], ["B", 2], ["control", 1]]
    requests = query(
        receiver,
        """
        SELECT Experiments['checkout-v2'] AS v, sum(Value) FROM otel_metrics_sum
        WHERE ServiceName = 'checkout-app' AND MetricName = 'exptrace.server.requests' GROUP BY v ORDER BY v""",
        flush=False,
    )
    assert requests == [["", 1], ["B", 2], ["control", 1]]
