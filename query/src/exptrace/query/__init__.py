"""exptrace query: per-cohort experiment statistics over the telemetry ``exptrace.ingest`` stores.

The Python API is below; ``core`` computes, ``text``, ``web`` and ``cli`` are the ways to
reach it, ``service`` runs beside the receiver and ``demo`` shows it all. ARCHITECTURE.md
draws the layers and the arrows between them.
"""

from exptrace.query.core import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Experiment,
    Page,
    Queries,
    Registry,
    Rows,
    Watcher,
    Window,
    schema_parts,
    views,
)

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
    "schema_parts",
    "views",
]
