"""The watcher inside ``exptrace up``: its rounds, its alert deliveries and its gauges, run
beside the receiver as the settings say."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exptrace.ingest import IngestSettings
from exptrace.query.core import ROLL_INTERVAL, Notifier, Target, Watcher, WatchLoop
from exptrace.query.service.metrics import exposition

if TYPE_CHECKING:
    from exptrace.ingest import IngestServer


def targets(settings: IngestSettings) -> list[Target]:
    """Alertmanager and/or a webhook, as configured."""
    given = (("alertmanager", settings.alertmanager_url), ("webhook", settings.alert_webhook_url))
    return [Target(kind, url) for kind, url in given if url]


def link_base(settings: IngestSettings) -> str:
    """Where people open the pages: ``external_url``, else the HTTP listening address."""
    if settings.external_url:
        return settings.external_url
    return settings.http_url()


def attach(server: IngestServer, settings: IngestSettings, watcher: Watcher) -> None:
    """Rounds every ``watch_interval`` (each rolls first; without rounds, a roll pass every
    :data:`ROLL_INTERVAL`), deliveries every ``alert_interval`` to the configured targets,
    and the gauges on ``/metrics``."""
    server.stats.expositions.append(lambda: exposition(watcher))
    if settings.watch_interval <= 0:  # no rounds: the roller runs on its own
        server.add_task(WatchLoop(watcher.roller.roll, ROLL_INTERVAL, watcher.roller.interrupt))
        return
    server.add_task(WatchLoop(watcher.round, settings.watch_interval, watcher.roller.interrupt))
    configured = targets(settings)
    if configured:
        notifier = Notifier(watcher, configured, link_base(settings), settings.alert_interval)
        server.add_task(WatchLoop(notifier.tick, settings.alert_interval))
