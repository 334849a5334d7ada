"""The real ``exptrace`` command and server, as separate processes of this venv."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.query.synth import Request, encode

EXPTRACE = str(Path(sys.executable).with_name("exptrace"))
TOKEN = "s3cret"
SPANS_DEADLINE = 180
"""Seconds :meth:`Server.wait_for_spans` waits for spans to be stored before failing."""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any ``EXPTRACE_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPTRACE_")}
    return {**env, **extra}


def exptrace(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run ``exptrace ARGS`` and return what it printed and its exit status."""
    return subprocess.run(
        [EXPTRACE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=clean_env(**env),
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """What a user sees on bad input: exit 2, one line on stderr naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


class Server:
    """``exptrace up`` on free loopback ports over ``data_dir``."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.process: subprocess.Popen | None = None
        self.announced: list[str] = []
        self.http_port = self.grpc_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                EXPTRACE,
                "up",
                "--data-dir",
                str(self.data_dir),
                "--grpc",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=(self.data_dir / "stderr.log").open("ab"),
            text=True,
            env=clean_env(**self.env),
        )
        try:
            self._wait_for_announcement()
        except BaseException:  # failed or timed out: leave nothing running
            self.process.kill()
            self.process.wait(60)
            raise
        return self

    def _wait_for_announcement(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.announced.append(line.rstrip("\n"))
            if "web pages" in line:
                break
        else:
            raise AssertionError((self.data_dir / "stderr.log").read_text()[-3000:])
        ports = re.search(r"gRPC :(\d+) and HTTP :(\d+)", "\n".join(self.announced))
        assert ports, self.announced
        self.grpc_port, self.http_port = int(ports.group(1)), int(ports.group(2))

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(120) == 0

    def send(self, requests: list[Request], token: str | None = None) -> None:
        """Export spans over OTLP/HTTP, as an SDK would."""
        headers = {"content-type": "application/x-protobuf"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = httpx.post(
            f"{self.url}/v1/traces", content=encode(requests), headers=headers, timeout=60
        )
        assert response.status_code == 200, response.text

    def wait_for_spans(self, count: int, token: str | None = None) -> None:
        """Until ``count`` spans are queryable (the log flushes within a second or so; the
        deadline is generous for a loaded machine)."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        seen = None
        deadline = time.monotonic() + SPANS_DEADLINE
        while time.monotonic() < deadline:
            lag = httpx.get(f"{self.url}/api/v1/lag", headers=headers, timeout=60).json()
            seen = sum(r["items"] for r in lag if r["signal"] == "traces")
            if seen >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"only {seen} of {count} spans were stored")
