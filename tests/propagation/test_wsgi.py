"""The WSGI middleware in a real Flask app with the real OpenTelemetry SDK."""

import pytest

from exptrace.propagation import PropagationSettings
from exptrace.propagation.metrics import DROPPED, ERRORS, REQUESTS
from tests.propagation.apps import flask_app, wrap_wsgi

ORDERS = ["inside", "outside"]


def client_for(telemetry, order, settings=None, **kw):
    from werkzeug.test import Client

    app = wrap_wsgi(flask_app(telemetry), telemetry, order, settings, **kw)
    return Client(app, use_cookies=False)


@pytest.mark.parametrize("order", ORDERS)
def test_flask_request_is_tagged_everywhere(telemetry, app_log, order):
    client = client_for(telemetry, order)
    response = client.get(
        "/", headers={"x-experiment": "checkout-v2=B", "baggage": "exp.search=ctrl"}
    )
    assert response.json == {"search": "ctrl", "checkout-v2": "B"}
    server = next(s for s in telemetry.spans() if s.kind.name == "SERVER")
    assert server.attributes["exp.checkout-v2"] == "B"
    assert server.attributes["exp.search"] == "ctrl"
    assert telemetry.span("handler").attributes["exp.checkout-v2"] == "B"
    assert telemetry.log_attributes()[-1]["exp.checkout-v2"] == "B"
    [(attributes, point)] = telemetry.metric_points(REQUESTS)
    assert attributes == {"exp.checkout-v2": "B", "exp.search": "ctrl"} and point.value == 1


@pytest.mark.parametrize("order", ORDERS)
def test_streamed_body_is_generated_under_the_assignment(telemetry, order):
    response = client_for(telemetry, order).get("/stream", headers={"x-experiment": "s=A"})
    assert response.data == b"chunk:s"
    assert telemetry.span("streaming").attributes["exp.s"] == "A"
    [(_, point)] = telemetry.metric_points(REQUESTS)
    assert point.value == 1


def test_exceptions_count_as_errors(telemetry):
    client = client_for(telemetry, "outside")
    response = client.get("/boom", headers={"x-experiment": "checkout-v2=B"}, buffered=True)
    assert response.status_code == 500
    [(attributes, errors)] = telemetry.metric_points(ERRORS)
    assert attributes == {"exp.checkout-v2": "B"} and errors.value == 1


def test_echo_cookie_and_allow_list(telemetry):
    settings = PropagationSettings(
        cookie_name="exp", set_cookie=True, echo_header=True, known_experiments={"a", "b"}
    )
    client = client_for(telemetry, "outside", settings)
    response = client.get("/", headers={"x-experiment": "a=1,unknown=2", "cookie": "exp=b=2"})
    assert response.json == {"a": "1", "b": "2"}
    assert response.headers["x-experiment"] == "a=1,b=2"
    assert response.headers["set-cookie"].startswith("exp=a=1&b=2;")
    dropped = {a["reason"]: p.value for a, p in telemetry.metric_points(DROPPED)}
    assert dropped == {"unknown": 1}
