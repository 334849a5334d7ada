"""A one-module Django site (settings, URLs and views) for the middleware tests.

Django's settings are process-wide: every test (and the ``opentelemetry-instrument``
subprocess, through ``DJANGO_SETTINGS_MODULE``) uses this one site.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from opentelemetry.trace import TracerProvider

from exptrace.propagation import current_assignments

DEBUG = False
SECRET_KEY = "tests-only"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
MIDDLEWARE: list[str] = []
INSTALLED_APPS: list[str] = []

tracer_provider: TracerProvider | None = None
"""The provider the ``/checkout`` view's own span uses (None: the global one)."""


def configure() -> None:
    """Configure Django with this module's settings, once per process."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**{name: value for name, value in globals().items() if name.isupper()})
    django.setup()


def whoami(request):
    return JsonResponse(current_assignments())


def checkout(request):
    # Imported here: under opentelemetry-instrument, Django's instrumentor loads this settings
    # module before Starlette's has patched the class that module imports.
    from tests.propagation.frameworks import observe

    return JsonResponse(observe(tracer_provider))


urlpatterns = [path("whoami", whoami), path("checkout", checkout)]
