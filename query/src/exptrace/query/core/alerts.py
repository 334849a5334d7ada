"""Alerts from the watcher's findings, delivered to Alertmanager or a webhook in its format.

One alert per experiment, variant and rule while that rule's state is ``fail``; it resolves
when the state moves on (pass, inconclusive, rolled back, stopped). Nothing is routed here:
Alertmanager groups, deduplicates, silences and pages.

Delivery is durable without a copy of the alerts: the findings table is the outbox, and
``exptrace_alert_deliveries`` keeps each target's cursor (the newest finding it has been
sent). After a restart, whatever changed past the cursor is sent; a failed delivery is
retried with a doubling delay. Alertmanager is sent every firing alert on each delivery
(it expects them repeated, and resolves one that stops coming at its ``endsAt``); a webhook
receiver is sent only what changed, so it sees each alert fire once and resolve once. An
alert that fired and resolved between two deliveries is sent firing first and resolved on
the next delivery, so nobody learns of a page only by its end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from exptrace.ingest import StoreError
from exptrace.query.core.watch import BURN, FIRING, SRM, Watcher

log = logging.getLogger(__name__)

SEVERITY = {"error_rate": "page", "latency": "page", **BURN, SRM: "ticket"}
"""A guardrail a variant crosses pages, and a fast burn; a slow burn and a sample-ratio
mismatch (the data is suspect, nobody is hurt yet) are tickets."""
ALERTNAME = {
    "error_rate": "ExperimentErrorRate",
    "latency": "ExperimentLatency",
    "burn_page": "ExperimentErrorBudgetBurn",
    "burn_ticket": "ExperimentErrorBudgetBurn",
    SRM: "ExperimentSampleRatioMismatch",
}
MAX_BACKOFF_SECONDS = 300.0
"""The longest wait between attempts to reach a failing target."""


@dataclass(frozen=True)
class Target:
    """Where alerts go: ``alertmanager`` (its ``/api/v2/alerts``) or ``webhook`` (any URL
    that takes Alertmanager's webhook payload)."""

    kind: str
    url: str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.url}"

    def endpoint(self) -> str:
        return f"{self.url.rstrip('/')}/api/v2/alerts" if self.kind == "alertmanager" else self.url


@dataclass
class _Attempts:
    """When a target may be tried next, and the delay after one more failure."""

    due: float = 0.0
    delay: float = 0.0
    last_error: str = ""


def alert(row: dict[str, Any], scopes: dict[str, list[str]], link_base: str) -> dict[str, Any]:
    """One alert in Alertmanager's shape from a state row (firing, or resolved at ``since``)."""
    firing = row["state"] == FIRING
    detail = row["detail"] if firing else {}
    variant = row["variant"] or "all"
    link = f"{link_base.rstrip('/')}/ui/experiments/{urllib.parse.quote(row['experiment'], '')}"
    what = (
        detail.get("verdict")
        or detail.get("reason")
        or ("sample ratio mismatch" if row["rule"] == SRM else "")
    )
    return {
        "labels": {
            "alertname": ALERTNAME[row["rule"]],
            "experiment": row["experiment"],
            "variant": variant,
            "rule": row["rule"],
            "service": ",".join(scopes.get(row["experiment"], [])) or "any",
            "severity": SEVERITY[row["rule"]],
        },
        "annotations": {
            "summary": f"{row['experiment']} {variant} fails {row['rule']}"
            + (f": {what}" if what else ""),
            "link": link,
        },
        "startsAt": _rfc3339(row["since"] if firing else row["previous_since"]),
        "endsAt": None if firing else _rfc3339(row["since"]),
        "generatorURL": link,
    }


class Notifier:
    """Deliver the watcher's alerts to each target on :meth:`tick`."""

    def __init__(
        self, watcher: Watcher, targets: list[Target], link_base: str, interval: float
    ) -> None:
        """``interval``: seconds between deliveries, and the first retry delay."""
        self.watcher = watcher
        self.store = watcher.store
        self.targets = targets
        self.link_base = link_base
        self.interval = interval
        self._attempts = {t.name: _Attempts() for t in targets}

    def tick(self) -> list[dict[str, Any]]:
        """Deliver to every target that is due; what each attempt did."""
        now = time.monotonic()
        due = [t for t in self.targets if self._attempts[t.name].due <= now]
        if not due:
            return []
        rows = self.watcher.state()
        scopes = {e.id: e.scope for e in self.watcher.registry.list()}
        through = max((r["since"] for r in rows), default="1970-01-01 00:00:00.000")
        return [self._deliver(target, rows, scopes, through) for target in due]

    def cursors(self) -> dict[str, str]:
        """Per target, the newest finding delivered (its ``since``)."""
        rows = self.store.query(
            "SELECT target, toString(max(through)) FROM exptrace_alert_deliveries "
            "WHERE ok GROUP BY target"
        ).rows
        return dict(rows)

    def _deliver(
        self,
        target: Target,
        rows: list[dict[str, Any]],
        scopes: dict[str, list[str]],
        through: str,
    ) -> dict[str, Any]:
        cursor = self.cursors().get(target.name)
        fresh = [r for r in rows if cursor is None or r["since"] > cursor]
        resolved = [r for r in fresh if r["state"] != FIRING and r["previous"] == FIRING]
        if cursor is None:
            resolved = []  # a new target hears of what fires now, not of old history
        # Fired and resolved since the last delivery: send the page now, its end next time.
        unseen = [r for r in resolved if r["previous_since"] > (cursor or "")]
        if unseen:
            resolved = [r for r in resolved if r not in unseen]
            through = min(r["previous_since"] for r in unseen)
        candidates = rows if target.kind == "alertmanager" else fresh
        firing = [r for r in candidates if r["state"] == FIRING]
        firing += [{**r, "state": FIRING, "since": r["previous_since"]} for r in unseen]
        alerts = [alert(r, scopes, self.link_base) for r in firing + resolved]
        attempts = self._attempts[target.name]
        outcome = {"target": target.name, "alerts": len(alerts), "ok": True, "error": ""}
        if alerts:
            try:
                _post(target.endpoint(), self._body(target, alerts))
            except (OSError, ValueError) as error:
                attempts.delay = min(MAX_BACKOFF_SECONDS, max(self.interval, attempts.delay * 2))
                attempts.due = time.monotonic() + attempts.delay
                attempts.last_error = str(error)[:500]
                outcome.update(ok=False, error=attempts.last_error)
                self._record(target, False, len(alerts), cursor or through, attempts.last_error)
                log.warning("alert delivery to %s failed: %s", target.name, error)
                return outcome
        attempts.delay, attempts.due = 0.0, time.monotonic() + self.interval
        if alerts or cursor is None or through > cursor:
            self._record(target, True, len(alerts), through)
        return outcome

    def _body(self, target: Target, alerts: list[dict[str, Any]]) -> Any:
        if target.kind == "alertmanager":
            am_ends = _rfc3339_at(
                dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4 * self.interval + 60)
            )
            return [{**a, "endsAt": a["endsAt"] or am_ends} for a in alerts]
        return webhook_payload(alerts, self.link_base)

    def _record(self, target: Target, ok: bool, alerts: int, through: str, error: str = "") -> None:
        try:
            self.store.command(
                "INSERT INTO exptrace_alert_deliveries (at, target, ok, alerts, through, error) "
                "VALUES (now64(3), {target:String}, {ok:Bool}, {alerts:UInt32}, "
                "{through:DateTime64(3)}, {error:String})",
                {"target": target.name, "ok": ok, "alerts": alerts, "through": through}
                | {"error": error},
            )
        except StoreError as failure:
            log.warning("could not record an alert delivery to %s: %s", target.name, failure)


def webhook_payload(alerts: list[dict[str, Any]], link_base: str) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) around ``alerts``."""
    shaped = []
    for a in alerts:
        status = "resolved" if a["endsAt"] else "firing"
        key = json.dumps(a["labels"], sort_keys=True).encode()
        shaped.append(
            {
                **a,
                "status": status,
                "endsAt": a["endsAt"] or "0001-01-01T00:00:00Z",
                "fingerprint": hashlib.sha256(key).hexdigest()[:16],
            }
        )
    common_labels = {
        k: v for k, v in shaped[0]["labels"].items() if all(a["labels"][k] == v for a in shaped)
    }
    return {
        "version": "4",
        "groupKey": json.dumps(common_labels, sort_keys=True),
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in shaped) else "resolved",
        "receiver": "exptrace",
        "groupLabels": {},
        "commonLabels": common_labels,
        "commonAnnotations": {},
        "externalURL": link_base,
        "alerts": shaped,
    }


def _post(url: str, body: Any, timeout: float = 10.0) -> None:
    request = urllib.request.Request(  # noqa: S310 (a URL the operator configured)
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        raise OSError(f"HTTP {error.code} from {url}: {error.read()[:300]!r}") from None


def _rfc3339(text: str) -> str:
    return _rfc3339_at(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def _rfc3339_at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
