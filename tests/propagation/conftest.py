import pytest

from tests.propagation.telemetry import Telemetry


@pytest.fixture
def telemetry():
    t = Telemetry()
    yield t
    t.shutdown()


@pytest.fixture
def app_log(telemetry):
    """The test apps' logger, wired to the OpenTelemetry logs of ``telemetry``."""
    from tests.propagation.apps import log

    handler = telemetry.logging_handler()
    log.addHandler(handler)
    yield
    log.removeHandler(handler)
