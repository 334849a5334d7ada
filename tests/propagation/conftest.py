import pytest

from tests.propagation.telemetry import Telemetry


@pytest.fixture
def telemetry():
    t = Telemetry()
    yield t
    t.shutdown()
