"""A real Django app behind the WSGI middleware, as the README shows."""

import pytest


@pytest.fixture(scope="module")
def django_app():
    from django.core.wsgi import get_wsgi_application

    from tests.propagation import django_site

    django_site.configure()
    return get_wsgi_application()


def test_django_request_runs_under_its_assignment(django_app, telemetry):
    from werkzeug.test import Client

    from exptrace.propagation import ExperimentWSGIMiddleware
    from exptrace.propagation.metrics import REQUESTS

    app = ExperimentWSGIMiddleware(django_app, meter_provider=telemetry.meter_provider)
    response = Client(app).get("/whoami", headers={"x-experiment": "checkout-v2=B"})
    assert response.status_code == 200
    assert response.json == {"checkout-v2": "B"}
    [(attributes, point)] = telemetry.metric_points(REQUESTS)
    assert attributes == {"exp.checkout-v2": "B"} and point.value == 1
