"""One call that wires the span, log and propagation hooks into the configured SDK."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

from exptrace.propagation.logs import ExperimentLogRecordProcessor, install_log_record_factory
from exptrace.propagation.propagator import ExperimentPropagator, has_experiment_propagator
from exptrace.propagation.settings import PropagationSettings
from exptrace.propagation.spans import ExperimentSpanProcessor


@dataclass
class Installation:
    """What :func:`setup` installed; :meth:`uninstall` takes back what can be taken back."""

    settings: PropagationSettings
    span_processor: ExperimentSpanProcessor | None = None
    log_processor: ExperimentLogRecordProcessor | None = None
    propagator: ExperimentPropagator | None = None
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def uninstall(self) -> None:
        """Restore the log record factory and the global propagator."""
        while self._undo:
            self._undo.pop()()


def setup(
    settings: PropagationSettings | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    logger_provider: LoggerProvider | None = None,
    annotate_logging: bool = True,
    add_propagator: bool = True,
) -> Installation:
    """Stamp assignments on every span and log record of this process.

    Adds :class:`ExperimentSpanProcessor` to the SDK tracer provider and
    :class:`ExperimentLogRecordProcessor` to the SDK logger provider (the global ones unless
    given), makes every stdlib log record carry ``%(experiments)s`` and ``exp.*`` attributes,
    and adds the ``experiment`` propagator to the global propagator unless it is there already.
    Providers that are not SDK providers (no SDK configured) are left alone. Metrics come from
    the middleware and :class:`exptrace.propagation.CohortMeter`.

    Call it after the SDK's ``trace.set_tracer_provider(...)`` (or pass ``tracer_provider``):
    without an SDK tracer provider there is nothing to add the span processor to, and a
    :class:`RuntimeWarning` says so.
    """
    settings = settings if settings is not None else PropagationSettings.from_env()
    installed = Installation(settings)
    if settings.sdk_disabled:
        return installed

    tracer_provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(tracer_provider, TracerProvider):
        installed.span_processor = ExperimentSpanProcessor()
        tracer_provider.add_span_processor(installed.span_processor)
    else:
        warnings.warn(
            "exptrace setup() found no OpenTelemetry SDK TracerProvider, so spans will not "
            "carry exp.* attributes: call setup() after trace.set_tracer_provider(...), "
            "or pass tracer_provider=",
            RuntimeWarning,
            stacklevel=2,
        )

    logger_provider = logger_provider or get_logger_provider()
    if isinstance(logger_provider, LoggerProvider):
        installed.log_processor = ExperimentLogRecordProcessor()
        logger_provider.add_log_record_processor(installed.log_processor)

    if annotate_logging:
        installed._undo.append(install_log_record_factory())

    if add_propagator and not has_experiment_propagator(propagate.get_global_textmap()):
        previous = propagate.get_global_textmap()
        installed.propagator = ExperimentPropagator(settings)
        propagate.set_global_textmap(CompositePropagator([previous, installed.propagator]))
        installed._undo.append(lambda: propagate.set_global_textmap(previous))
    return installed
