"""The computations: what the engine answers (``sql/*.sql``, one file per query or view) and
the Python that turns rows into reports, incidents, burn, series and decisions; the registry,
the watcher's rounds, alerts and gates. Nothing here knows HTTP, HTML or the command line:
``core`` imports no other subpackage of ``exptrace.query``."""

from exptrace.query.core.answers import DEFAULT_LIMIT, MAX_LIMIT, Page, Rows, Window
from exptrace.query.core.queries import Queries
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.sqlfiles import views
from exptrace.query.core.watch import Watcher

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Experiment",
    "Page",
    "Queries",
    "Registry",
    "Rows",
    "Watcher",
    "Window",
    "views",
]
