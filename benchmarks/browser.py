"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, for the page
screenshots and the browser tests (``tests/query/browser.py`` says what a missing one means
to a test run)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def find_chromium() -> str | None:
    """Debian's chromium, else one on PATH; None when there is none."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@dataclass
class Visit:
    """What one page load did: every request it made and every console error."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Browser:
    """One persistent-context Chromium on a fresh profile directory; ``flags`` adds
    command-line flags (``--host-resolver-rules=...`` to point a name at loopback)."""

    def __init__(self, *flags: str) -> None:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="exptrace-chromium-")
        self._playwright = sync_playwright().start()
        self.context = self._playwright.chromium.launch_persistent_context(
            self._profile,
            executable_path=find_chromium() or CHROMIUM,
            headless=True,
            args=[*FLAGS, *flags],
            viewport={"width": 1280, "height": 900},
        )
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.visit = Visit()
        self.page.on("request", lambda r: self.visit.requests.append(r.url))
        self.page.on(
            "console", lambda m: self.visit.errors.append(m.text) if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.visit.errors.append(str(e)))

    def open(self, url: str):
        """Load ``url``; return the response and what the load did."""
        self.visit = Visit()
        response = self.page.goto(url, wait_until="networkidle")
        return response, self.visit

    def close(self) -> None:
        self.context.close()
        self._playwright.stop()
        shutil.rmtree(self._profile, ignore_errors=True)
