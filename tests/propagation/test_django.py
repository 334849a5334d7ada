"""A real Django app behind the WSGI middleware, as the README shows."""

import pytest
from django.urls import path


@pytest.fixture(scope="module")
def django_app():
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def whoami(request):
    from django.http import JsonResponse

    from exptrace.propagation import current_assignments

    return JsonResponse(current_assignments())


urlpatterns = [path("whoami", whoami)]  # this module is the app's ROOT_URLCONF


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
