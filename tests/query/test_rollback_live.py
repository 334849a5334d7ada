"""Rollback reaches traffic: `exptrace up`, three services in their own processes (two
uvicorn, one WSGI), each with a RegistryAssigner polling every second; then freeze, stop and
a decision through the real CLI."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.query.exptrace_cli import TOKEN, Server, assert_one_line_error, clean_env, exptrace

ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
"""The registry settings the services run with (``EXPTRACE_REGISTRY_*``)."""
DEADLINE = 120.0
OLD = {"baggage": "exp.checkout-v2=B"}


@contextlib.contextmanager
def service(name: str, kind: str, server: Server, downstream: str = "-", unit: str = "-"):
    env = clean_env(
        EXPTRACE_REGISTRY_URL=server.url,
        EXPTRACE_REGISTRY_TOKEN=TOKEN,
        EXPTRACE_REGISTRY_POLL_SECONDS=str(POLL_SECONDS),
        EXPTRACE_REGISTRY_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.propagation.registry_services", name, kind, downstream, unit],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), (name, line, process.poll())
        yield f"http://127.0.0.1:{int(line.split()[1])}/"
    finally:
        process.terminate()
        process.wait(60)


def ask(url: str, headers: dict[str, str]) -> tuple[dict, float, float]:
    start = time.monotonic()
    answer = httpx.get(url, headers=headers, timeout=60).json()
    return answer, start, time.monotonic()


def until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.05)


def test_rollback_reaches_every_service_within_a_poll_period(tmp_path):
    with contextlib.ExitStack() as stack:
        server = Server(tmp_path / "exptrace", EXPTRACE_TOKEN=TOKEN).start()
        stack.callback(server.stop)
        cli = ["--api", server.url, "--token", TOKEN]
        created = exptrace(
            *cli,
            "experiments",
            "create",
            "checkout-v2",
            "--variant",
            "control=50",
            "--variant",
            "B=50",
        )
        assert created.returncode == 0, created.stderr
        assert exptrace(*cli, "experiments", "start", "checkout-v2").returncode == 0
        c = stack.enter_context(service("c", "wsgi", server))
        b = stack.enter_context(service("b", "asgi", server, c))
        a = stack.enter_context(service("a", "asgi", server, b, "x-user-id"))

        # Before: the edge assigns by weight and every hop runs the same variant.
        answers = {f"u{i}": ask(a, {"x-user-id": f"u{i}"})[0] for i in range(60)}
        assert all(len(set(v.values())) == 1 for v in answers.values()), answers
        in_b = [user for user, v in answers.items() if v["a"] == "B"]
        assert in_b and len(in_b) < 60
        assert ask(b, OLD)[0] == {"b": "B", "c": "B"}

        # Rollback, then ask every service, also with the old variant in baggage, until all
        # run control: each round starts after the previous one, so the first round that is
        # all control begins once every service has the rollback.
        rounds: list[tuple[float, bool]] = []
        slowest = 0.0
        started = time.monotonic()
        rolled = httpx.post(
            f"{server.url}/api/v1/experiments/checkout-v2/rollback",
            headers={"authorization": f"Bearer {TOKEN}", "x-exptrace-actor": "oncall"},
            json={"variant": "B", "reason": "errors up"},
        )
        assert rolled.status_code == 200, rolled.text
        user = iter(in_b * 1000)
        while len(rounds) < 20 or not all(ok for _, ok in rounds[-20:]):
            assert time.monotonic() - started < DEADLINE, rounds
            calls = [
                ask(a, {"x-user-id": next(user)}),
                ask(a, {"x-user-id": next(user), **OLD}),
                ask(b, OLD),
                ask(c, OLD),
            ]
            slowest = max(slowest, *(end - start for _, start, end in calls))
            ok = all(set(answer.values()) == {"control"} for answer, _, _ in calls)
            rounds.append((calls[0][1] - started, ok))
        first_ok = next(i for i, (_, ok) in enumerate(rounds) if ok)
        assert all(ok for _, ok in rounds[first_ok:]), rounds  # never back to B
        to_control = rounds[first_ok][0]
        print(f"rollback to 100% control: {to_control:.2f} s (poll every {POLL_SECONDS} s)")
        assert to_control <= POLL_SECONDS + TIMEOUT_SECONDS + slowest, (to_control, slowest)

        # A freeze refuses starts in one line, and every page says so.
        assert exptrace(*cli, "experiments", "create", "banner").returncode == 0
        frozen = exptrace(*cli, "freeze", "--reason", "incident 7", "--actor", "alice")
        assert frozen.returncode == 0 and "frozen since" in frozen.stdout
        refused = exptrace(*cli, "experiments", "start", "banner")
        assert_one_line_error(refused, "experiments are frozen since", "by alice: incident 7")
        for path in ("/ui", "/ui/burn", "/ui/experiments/banner"):
            page = httpx.get(server.url + path, headers={"authorization": f"Bearer {TOKEN}"})
            assert "Frozen: experiments are frozen since" in page.text, path
        assert exptrace(*cli, "unfreeze", "--reason", "resolved").returncode == 0
        assert (
            "Frozen:"
            not in httpx.get(f"{server.url}/ui", headers={"authorization": f"Bearer {TOKEN}"}).text
        )
        assert exptrace(*cli, "experiments", "start", "banner").returncode == 0

        # Stop: no new assignment anywhere, and members carried in baggage are dropped.
        assert exptrace(*cli, "experiments", "stop", "checkout-v2").returncode == 0
        until(
            lambda: (
                ask(a, {"x-user-id": "new-user"})[0] == {"a": None, "b": None, "c": None}
                and ask(b, OLD)[0] == {"b": None, "c": None}
                and ask(c, OLD)[0] == {"c": None}
            ),
            "every service leaves the stopped experiment",
        )

        # The decision, and the time it took from the stop.
        decided = exptrace(
            *cli, "experiments", "decide", "checkout-v2", "rollback", "--reason", "B breaks"
        )
        assert decided.returncode == 0, decided.stderr
        listed = exptrace(*cli, "--json", "experiments", "decisions")
        decisions = json.loads(listed.stdout)
        [row] = [r for r in decisions["experiments"] if r["experiment"] == "checkout-v2"]
        assert row["decision"] == "rollback" and row["seconds"] >= 0
        assert decisions["average_seconds"] == row["seconds"]
