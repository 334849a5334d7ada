"""Plain-text logs, OpenTelemetry logs and application metrics carry the assignments."""

import io
import logging

from opentelemetry import context as otel_context

from exptrace.propagation import (
    CohortMeter,
    ExperimentLogFilter,
    install_log_record_factory,
    with_assignments,
)


def test_text_log_format_shows_assignments_and_a_dash_without():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s [%(experiments)s] %(message)s"))
    handler.addFilter(ExperimentLogFilter())
    logger = logging.getLogger("tests.text")
    logger.addHandler(handler)
    try:
        logger.warning("before")
        token = otel_context.attach(with_assignments({"checkout-v2": "B", "search": "ctrl"}))
        try:
            logger.warning("during")
        finally:
            otel_context.detach(token)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "WARNING [-] before",
        "WARNING [checkout-v2=B,search=ctrl] during",
    ]


def test_record_factory_feeds_otel_logging_handler(telemetry):
    uninstall = install_log_record_factory()
    logger = logging.getLogger("tests.factory")
    handler = telemetry.logging_handler()
    logger.addHandler(handler)
    try:
        token = otel_context.attach(with_assignments({"model": "v7"}))
        try:
            logger.error("scored")
        finally:
            otel_context.detach(token)
    finally:
        logger.removeHandler(handler)
        uninstall()
    attributes = telemetry.log_attributes()[-1]
    assert attributes["exp.model"] == "v7"
    assert attributes["experiments"] == "model=v7"
    assert not hasattr(logging.makeLogRecord({}), "experiments")  # uninstalled


def test_otel_logs_api_records_get_assignments(telemetry):
    from opentelemetry._logs import LogRecord

    otel_logger = telemetry.logger_provider.get_logger("tests")
    token = otel_context.attach(with_assignments({"model": "v7"}))
    try:
        otel_logger.emit(LogRecord(body="inference done", attributes={"latency_ms": 3}))
    finally:
        otel_context.detach(token)
    assert telemetry.log_attributes()[-1] == {"latency_ms": 3, "exp.model": "v7"}


def test_cohort_meter_adds_current_assignments(telemetry):
    meter = CohortMeter("checkout", meter_provider=telemetry.meter_provider)
    orders = meter.create_counter("orders.placed")
    basket = meter.create_histogram("basket.value", unit="EUR")
    orders.add(1, {"payment": "card"})
    token = otel_context.attach(with_assignments({"checkout-v2": "B"}))
    try:
        orders.add(2, {"payment": "card"})
        basket.record(42.5)
    finally:
        otel_context.detach(token)
    points = {frozenset(a.items()): p.value for a, p in telemetry.metric_points("orders.placed")}
    assert points == {
        frozenset({("payment", "card")}): 1,
        frozenset({("payment", "card"), ("exp.checkout-v2", "B")}): 2,
    }
    [(attributes, histogram)] = telemetry.metric_points("basket.value")
    assert attributes == {"exp.checkout-v2": "B"} and histogram.sum == 42.5
