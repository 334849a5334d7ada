"""Screenshots of every page over the demo's data: ``uv run python -m benchmarks.screenshots``.

Runs the demo's four services against an embedded receiver (variant B of checkout-v2 fails
more and is slower; checkout drops the baggage on its call to inventory), records one
registry change half-way so the charts carry an annotation, runs one watcher round over it
all (which pages for B and, under checkout-v2's ``rollback`` policy, rolls it back, as the
on-call page then shows), then signs in to the pages with the token in Debian's headless
Chromium and writes a full-page PNG per page into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks.browser import CHROMIUM, Browser
from exptrace.query.demo import run as demo

TOKEN = "demo-token"
PAGES = (
    ("experiment-checkout-v2", "/ui/experiments/checkout-v2"),
    ("experiment-search-rerank", "/ui/experiments/search-rerank"),
    ("experiments", "/ui"),
    ("oncall", "/ui/oncall"),
    ("executive", "/ui/executive"),
    ("incident", "/ui/incident"),
    ("coverage", "/ui/coverage"),
    ("propagation", "/ui/propagation"),
    ("burn-rates", "/ui/burn"),
    ("ingestion-lag", "/ui/lag"),
    ("cardinality", "/ui/cardinality"),
)

WINDOWLESS = frozenset({"/ui/burn", "/ui/oncall", "/ui/executive"})
"""Pages that answer for now, not over a window."""


def _stamp(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def run(out: Path, requests: int) -> int:
    if not Path(CHROMIUM).exists():
        print(f"screenshots: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="exptrace-screens-"))
    # The pages and the API want a token (OTLP stays open), so the run starts at the sign-in.
    stack = demo.start_stack(data_dir, TOKEN)
    server, registry, ports = stack.server, stack.registry, stack.ports
    try:
        start = time.time() - 5
        services = stack.services()
        url = f"http://127.0.0.1:{ports['frontend']}/checkout"
        with demo.serving(services.apps, ports):
            first = asyncio.run(demo.drive(url, requests // 2))
            registry.update(
                "checkout-v2",
                "release-bot",
                artifacts={
                    **demo.EXPERIMENTS[0].artifacts,
                    "B": {**demo.EXPERIMENTS[0].artifacts["B"], "image": "shop:2.1.1"},
                },
            )
            second = asyncio.run(demo.drive(url, requests - requests // 2))
        if not first["sent"] + second["sent"]:
            print("screenshots: no demo request was answered; no page to show", file=sys.stderr)
            return 1
        services.shutdown()
        server.flusher.flush_now(120)
        stack.watcher.round()
        window = urllib.parse.urlencode({"from": _stamp(start), "to": _stamp(time.time() + 5)})
        written: list[Path] = []
        browser = Browser()
        origin = f"http://127.0.0.1:{server.http_port}"
        try:
            browser.open(f"{origin}/ui")
            browser.page.screenshot(path=str(out / "sign-in.png"))
            browser.page.fill("input[name=token]", TOKEN)
            browser.page.click("button:text('sign in')")
            browser.page.wait_for_url(f"{origin}/ui")
            print(f"  {out / 'sign-in.png'}")
            for name, path in PAGES:
                query = "" if path in WINDOWLESS else f"?{window}"
                response, visit = browser.open(f"{origin}{path}{query}")
                target = out / f"{name}.png"
                browser.page.screenshot(path=str(target), full_page=True)
                problems = f", console errors: {visit.errors}" if visit.errors else ""
                print(f"  {target} (HTTP {response.status}){problems}")
                if response.status == 200 and not visit.errors:
                    written.append(target)
        finally:
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if len(written) < len(PAGES):
        print(
            f"screenshots: {len(written)} of {len(PAGES)} pages shown without error",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("exptrace-screenshots"))
    parser.add_argument("--requests", type=int, default=2400, help="demo requests to drive")
    args = parser.parse_args()
    sys.exit(run(args.out, args.requests))


if __name__ == "__main__":
    main()
