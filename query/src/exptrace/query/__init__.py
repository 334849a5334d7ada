"""exptrace query: per-cohort experiment statistics over the telemetry ``exptrace.ingest`` stores.

Where things live (the arrows run one way, ``core`` <- ``web`` <- ``cli``/``demo``):

- ``core``: the computations and their SQL (``core/sql/*.sql``), the registry, the watcher's
  rounds, alerts and gates. Imports nothing from the other subpackages.
- ``web``: the HTTP API (JSON), the pages, the gate and auth in front of them. Imports ``core``.
- ``service``: what ``exptrace up`` runs beside the receiver (watch rounds, deliveries,
  gauges). Imports ``core``.
- ``cli``: the ``exptrace`` command, its clients and text tables. Imports ``core``; imports
  ``web`` and ``service`` only to serve (``exptrace up``).
- ``demo``: ``exptrace demo``. May import everything.

The Python API is ``core``'s public names, re-exported here; the rest is internal to its
subpackage.
"""

from exptrace.query.core import *  # noqa: F403  (the Python API is core's public names)
from exptrace.query.core import __all__ as __all__
