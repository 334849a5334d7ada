"""What ``exptrace up`` runs beside the receiver: the watcher's rounds, alert deliveries and
the gauges on ``/metrics``."""

from exptrace.query.service.watcher import attach

__all__ = ["attach"]
