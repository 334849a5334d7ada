"""What a person is paged with: the watcher's alerts through a real Alertmanager (Debian's
``prometheus-alertmanager``) to a webhook receiver, and straight to a webhook; retried while
the target is down, and not repeated by a restarted notifier."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exptrace.query import Queries
from exptrace.query.core.alerts import Notifier, Target
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import Watcher
from tests.query.synth import insert_clustered
from tests.query.test_watch_rounds import _running

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
LINK = "https://exptrace.example/base"


class Hook:
    """A webhook receiver: every JSON body posted to it, in order."""

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(condition, deadline: float = 120.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _watched(store):
    insert_clustered(store, units=4000, seed=61, error_rate=0.01, error_factor=4.0, prefix="bad-")
    insert_clustered(store, units=4000, seed=62, prefix="aa-")
    registry = Registry(store)
    for experiment_id in ("bad-0", "aa-0"):
        _running(registry, experiment_id)
    registry.update("bad-0", "test", scope=["checkout"])
    return registry, Watcher(Queries(store, registry), registry)


@pytest.fixture
def alertmanager(tmp_path):
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (.ci/run installs it)")
    hook = Hook()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [experiment, variant, rule]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {hook.url}\n"
        "        send_resolved: true\n"
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    _until(ready, 60)
    yield url, hook
    process.terminate()
    process.wait(30)
    hook.close()


def test_alertmanager_pages_once_with_the_labels_and_resolves_after_the_rollback(
    receiver, alertmanager
):
    url, hook = alertmanager
    registry, watcher = _watched(receiver.store)
    notifier = Notifier(watcher, [Target("alertmanager", url)], LINK, interval=0.5)
    watcher.round()
    [sent] = notifier.tick()
    assert sent["ok"] and sent["alerts"] == 1  # the A/A experiment raises nothing

    [page] = _until(lambda: list(hook.bodies))
    assert page["status"] == "firing"
    [alert] = page["alerts"]
    assert alert["labels"] == {
        "alertname": "ExperimentErrorRate",
        "experiment": "bad-0",
        "variant": "treatment",
        "rule": "error_rate",
        "service": "checkout",
        "severity": "page",
    }
    assert alert["annotations"]["link"] == f"{LINK}/ui/experiments/bad-0"
    assert alert["annotations"]["summary"].startswith("bad-0 treatment fails error_rate: more")

    for _ in range(3):  # the watcher and notifier go on: Alertmanager pages no one again
        watcher.round()
        time.sleep(0.5)
        notifier.tick()
    registry.set_policy("bad-0", "rollback", "oncall")
    watcher.round()  # rolls back
    watcher.round()  # rolled back: the alert resolves
    time.sleep(0.5)
    notifier.tick()
    resolved = _until(lambda: [b for b in hook.bodies if b["status"] == "resolved"])
    assert [a["labels"]["experiment"] for a in resolved[0]["alerts"]] == ["bad-0"]
    time.sleep(3)  # several group intervals: nothing more arrives
    assert [b["status"] for b in hook.bodies] == ["firing", "resolved"]


def test_a_webhook_hears_each_change_once_retried_while_down_and_not_again_after_a_restart(
    receiver,
):
    registry, watcher = _watched(receiver.store)
    port = _free_port()
    target = Target("webhook", f"http://127.0.0.1:{port}/")
    notifier = Notifier(watcher, [target], LINK, interval=0.2)
    watcher.round()
    [down] = notifier.tick()
    assert not down["ok"] and down["alerts"] == 1
    assert notifier.tick() == []  # backing off: not due yet
    attempts = notifier._attempts[target.name]
    assert attempts.delay == 0.2
    attempts.due = 0  # due again: a second failure doubles the wait, up to 5 minutes
    assert not notifier.tick()[0]["ok"] and attempts.delay == 0.4
    attempts.delay, attempts.due = 299.0, 0
    assert not notifier.tick()[0]["ok"] and attempts.delay == 300.0  # the cap
    attempts.delay, attempts.due = 0.2, 0
    hook = Hook(port)
    try:
        _until(lambda: [o for o in notifier.tick() if o["ok"]], 30)
        [firing] = hook.bodies
        assert firing["version"] == "4" and firing["status"] == "firing"
        assert firing["commonLabels"]["experiment"] == "bad-0"
        restarted = Notifier(watcher, [target], LINK, interval=0.2)
        assert restarted.tick() == [
            {"target": target.name, "alerts": 0, "ok": True, "error": ""}
        ]  # its cursor is in the store: nothing is sent twice
        registry.rollback("bad-0", "treatment", "by hand", "oncall")
        watcher.round()
        assert restarted.tick()[0]["alerts"] == 1
        assert [b["status"] for b in hook.bodies] == ["firing", "resolved"]
        [resolved] = hook.bodies[1]["alerts"]
        assert resolved["status"] == "resolved" and resolved["endsAt"] > resolved["startsAt"]
    finally:
        hook.close()
