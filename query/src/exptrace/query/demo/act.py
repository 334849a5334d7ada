"""The watch-and-act half of ``exptrace demo``: the watcher's rounds, its page arriving at a
webhook receiver, the rollback, and traffic moving to control, printed as they happen.

The watcher and its alert deliveries are the ones ``exptrace up`` runs (:class:`Watcher`,
:class:`Notifier`), on a short interval. The page is shown as the receiver got it, in
Alertmanager's webhook format. The move to control is measured from what the services
answered: for every request, the variant ``checkout`` ran.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exptrace.query.core import FIRING, DecisionLog, Notifier, Registry, Target, Watcher, WatchLoop

SLICE_SECONDS = 0.5
"""The width of each line of the move to control."""
MIN_REQUESTS_ON_CONTROL = 10
"""Requests of the former users, all on control, that show the move is complete."""


class Console:
    """Progress that rewrites its line and events that interrupt it, from any thread, each
    event stamped with the seconds since the demo began."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self._lock = threading.Lock()
        self._open = False

    def progress(self, text: str) -> None:
        """Rewrite the current progress line."""
        with self._lock:
            print(f"\r{text}", end="", flush=True)
            self._open = True

    def end_progress(self) -> None:
        """End the progress line, if one is open."""
        with self._lock:
            self._close()

    def event(self, text: str) -> None:
        """Print ``text`` on lines of its own, stamped with the time since the start."""
        with self._lock:
            self._close()
            print(f"  [{time.monotonic() - self.began:5.1f} s] {text}", flush=True)

    def _close(self) -> None:
        if self._open:
            print(flush=True)
            self._open = False


def page_text(alert: dict[str, Any]) -> str:
    """What a pager shows of one webhook alert: the labels, why, and where to look."""
    labels = alert["labels"]
    shown = "  ".join(
        f"{name}={labels[name]}"
        for name in ("severity", "experiment", "variant", "rule", "service")
    )
    return (
        f"{labels['alertname']}  {shown}\n"
        f"             why: {alert['annotations']['summary']}\n"
        f"             link: {alert['annotations']['link']}"
    )


class WebhookReceiver:
    """A stdlib HTTP server taking Alertmanager's webhook payload (version 4) on ``/alerts``,
    as a pager or chat bridge would; each alert is kept and told to ``on_alert``."""

    def __init__(self, on_alert: Callable[[dict[str, Any]], None]) -> None:
        self.alerts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.end_headers()
                for alert in json.loads(body)["alerts"]:
                    receiver.alerts.append(alert)
                    on_alert(alert)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what arrives, not the access log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self, status: str, experiment: str | None = None) -> list[dict[str, Any]]:
        """The alerts received with ``status`` (``firing`` or ``resolved``)."""
        return [
            a
            for a in self.alerts
            if a["status"] == status and experiment in (None, a["labels"]["experiment"])
        ]

    def all_resolved(self) -> bool:
        """Every alert that fired has been received resolved too (and one has fired)."""
        fired = {a["fingerprint"] for a in self.received("firing")}
        return bool(fired) and fired <= {a["fingerprint"] for a in self.received("resolved")}


@dataclass
class DemoWatch:
    """The watcher and its webhook deliveries on short intervals, telling ``console`` of every
    page, resolution and rollback."""

    watcher: Watcher
    console: Console
    link_base: str
    interval: float
    alert_interval: float
    rounds: int = 0
    round_seconds: float = 0.0
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    rolled_back: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.registry = self.watcher.registry
        self.webhook = WebhookReceiver(self._alert)
        target = Target("webhook", self.webhook.url)
        notifier = Notifier(self.watcher, [target], self.link_base, self.alert_interval)
        self._loops = [
            WatchLoop(self._round, self.interval, self.watcher.roller.interrupt),
            WatchLoop(notifier.tick, self.alert_interval),
        ]

    def start(self) -> DemoWatch:
        self.webhook.start()
        for loop in self._loops:
            loop.start()
        return self

    def stop(self) -> None:
        for loop in self._loops:
            loop.stop()
        self.webhook.stop()

    def _round(self) -> None:
        began = time.monotonic()
        outcome = self.watcher.round()
        for acted in outcome["rollbacks"]:
            self.rollbacks.append(acted)
            self.console.event(rollback_text(acted, self.registry))
        if outcome["rollbacks"]:
            self.rolled_back.set()
        self.round_seconds = time.monotonic() - began
        self.rounds += 1  # last: whoever sees the count sees the round's rollbacks

    def _alert(self, alert: dict[str, Any]) -> None:
        if alert["status"] == "firing":
            self.console.event(
                "PAGE, as the demo's webhook receiver got it (Alertmanager webhook format):\n"
                f"             {page_text(alert)}"
            )
        else:
            labels = alert["labels"]
            self.console.event(
                f"RESOLVED at the webhook receiver: {labels['alertname']} {labels['experiment']} "
                f"{labels['variant']} {labels['rule']} (ended {alert['endsAt']})"
            )

    def innocent(self, experiment: str) -> str:
        """What the watcher raised for ``experiment`` over the demo: ideally nothing."""
        history = self.watcher.history(experiment)
        failed = sorted({f"{r['variant']} {r['rule']}" for r in history if r["state"] == FIRING})
        pages = self.webhook.received("firing", experiment)
        if not failed and not pages:
            states = sorted({f"{r['rule']} {r['state']}" for r in self.watcher.state(experiment)})
            return f"{experiment}: raised nothing (no alert, no rollback; {', '.join(states)})"
        return f"{experiment}: failed {', '.join(failed)}; {len(pages)} alert(s) received"


def rollback_text(acted: dict[str, Any], registry: Registry) -> str:
    """The rollback as the registry recorded it: what, who, when and why."""
    rollback, decision = acted["rollback"], acted["decision"]
    at = registry.first_rollback(rollback["experiment"])
    return (
        f"ROLLBACK by {decision['actor']} at {at} UTC: {rollback['experiment']} "
        f"{', '.join(rollback['rolled_back'])} -> {rollback['control']} ({rollback['reason']})"
    )


def decisions_text(registry: Registry) -> str:
    """The decision log, oldest first."""
    rows = DecisionLog(registry.store, registry).entries()
    if not rows:
        return "  no decision logged"
    return "\n".join(
        f"  decision logged: {r['at']} UTC {r['experiment_id']} {r['decision']} by {r['actor']}: "
        f"{r['reason']}"
        for r in rows
    )


@dataclass(frozen=True)
class Answer:
    """One answered request: when it was sent (Unix seconds), whose it was, and the variant
    of the broken experiment that ``checkout`` ran for it."""

    at: float
    user: str
    variant: str | None


@dataclass(frozen=True)
class Move:
    """How the rolled-back variant's former users moved to control: the users who ran it on a
    request sent before the rollback, and their requests sent after it."""

    users: int
    slices: list[tuple[float, int, int]]
    """Per :data:`SLICE_SECONDS` after the rollback that had requests: its start, the
    requests, those on control; up to the first that is all control once the move is
    complete."""
    complete_from: float | None
    """Seconds after the rollback from which every request ran control; None: never."""
    since: int
    """Requests from then on (all on control)."""

    @property
    def complete(self) -> bool:
        return self.complete_from is not None and self.since >= MIN_REQUESTS_ON_CONTROL


def move(answers: list[Answer], rollback_at: float, variant: str, control: str) -> Move:
    """Measure the move to ``control`` of ``variant``'s former users from ``answers``."""
    users = {a.user for a in answers if a.at < rollback_at and a.variant == variant}
    after = sorted((a for a in answers if a.at >= rollback_at and a.user in users), key=_at)
    last = max((i for i, a in enumerate(after) if a.variant != control), default=-1)
    complete_from = after[last + 1].at - rollback_at if last + 1 < len(after) else None
    buckets: dict[int, list[Answer]] = {}
    for a in after:
        buckets.setdefault(int((a.at - rollback_at) // SLICE_SECONDS), []).append(a)
    slices = []
    for index, bucket in sorted(buckets.items()):
        on_control = sum(a.variant == control for a in bucket)
        slices.append((index * SLICE_SECONDS, len(bucket), on_control))
        done = complete_from is not None and (index + 1) * SLICE_SECONDS > complete_from
        if done and on_control == len(bucket):
            break
    return Move(len(users), slices, complete_from, len(after) - last - 1)


def move_text(m: Move, variant: str, control: str, poll_seconds: float) -> str:
    """The move, slice by slice, and where it reached 100%."""
    lines = [
        f"Traffic after the rollback: the {control} share of {variant}'s {m.users} former users "
        f"(what checkout ran for them; services poll the registry every {poll_seconds:g} s)"
    ]
    lines += [
        f"  +{start:.1f} to +{start + SLICE_SECONDS:.1f} s: {on}/{n} requests on {control} "
        f"({on / n:.0%})"
        for start, n, on in m.slices
    ]
    if m.complete_from is None:
        lines.append(f"  {variant}'s former users never all reached {control}")
    else:
        lines.append(
            f"  100% on {control} from +{m.complete_from:.2f} s after the rollback: "
            f"{m.since} of {m.since} requests since"
        )
    return "\n".join(lines)


def _at(answer: Answer) -> float:
    return answer.at
