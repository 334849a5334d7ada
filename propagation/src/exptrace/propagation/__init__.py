"""Carry the experiment (and variant) a request runs under through every span, log and metric.

An assignment travels as the W3C baggage member ``exp.<experiment-id>=<variant>``.
"""

from exptrace.propagation import grammar
from exptrace.propagation.asgi import ExperimentMiddleware
from exptrace.propagation.assign import Assigner, HashAssigner, RequestView, RevisingAssigner
from exptrace.propagation.configure import Installation, setup
from exptrace.propagation.context import (
    UNIT_MEMBER,
    bind,
    current_assignments,
    experiment_attributes,
    with_assignments,
)
from exptrace.propagation.logs import (
    ExperimentLogFilter,
    ExperimentLogRecordProcessor,
    install_log_record_factory,
)
from exptrace.propagation.members import BAGGAGE_PREFIX, Limits
from exptrace.propagation.metrics import CohortMeter
from exptrace.propagation.propagator import ExperimentPropagator
from exptrace.propagation.registry_assigner import PollStatus, RegistryAssigner, RegistrySettings
from exptrace.propagation.settings import (
    FALSE_WORDS,
    TRUE_WORDS,
    PropagationSettings,
    SettingsError,
    flag,
    invalid,
    setting,
    settings_from_env,
    variable,
)
from exptrace.propagation.spans import ExperimentSpanProcessor
from exptrace.propagation.version import __version__
from exptrace.propagation.wsgi import ExperimentWSGIMiddleware

__all__ = [
    "BAGGAGE_PREFIX",
    "FALSE_WORDS",
    "TRUE_WORDS",
    "UNIT_MEMBER",
    "Assigner",
    "CohortMeter",
    "ExperimentLogFilter",
    "ExperimentLogRecordProcessor",
    "ExperimentMiddleware",
    "ExperimentPropagator",
    "ExperimentSpanProcessor",
    "ExperimentWSGIMiddleware",
    "HashAssigner",
    "Installation",
    "Limits",
    "PollStatus",
    "PropagationSettings",
    "RegistryAssigner",
    "RegistrySettings",
    "RequestView",
    "RevisingAssigner",
    "SettingsError",
    "__version__",
    "bind",
    "current_assignments",
    "experiment_attributes",
    "flag",
    "grammar",
    "install_log_record_factory",
    "invalid",
    "setting",
    "settings_from_env",
    "setup",
    "variable",
    "with_assignments",
]
