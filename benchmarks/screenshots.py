"""Screenshots of every page over the demo's data: ``uv run python -m benchmarks.screenshots``.

Runs the demo's four services against an embedded receiver (variant B of checkout-v2 fails
more and is slower; checkout drops the baggage on its call to inventory), records one
registry change half-way so the charts carry an annotation, then signs in to the pages with
the token in Debian's headless Chromium and writes a full-page PNG per page into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from exptrace.ingest.http_receiver import bearer_check
from exptrace.ingest.server import IngestServer
from exptrace.ingest.settings import IngestSettings
from exptrace.query import demo
from exptrace.query.api import Queries
from exptrace.query.http_api import api_routes
from exptrace.query.registry import Registry
from tests.query.browser import CHROMIUM, Browser

TOKEN = "demo-token"
PAGES = (
    ("experiment-checkout-v2", "/ui/experiments/checkout-v2"),
    ("experiment-search-rerank", "/ui/experiments/search-rerank"),
    ("experiments", "/ui"),
    ("incident", "/ui/incident"),
    ("coverage", "/ui/coverage"),
    ("propagation", "/ui/propagation"),
    ("burn-rates", "/ui/burn"),
    ("ingestion-lag", "/ui/lag"),
    ("cardinality", "/ui/cardinality"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stamp(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def run(out: Path, requests: int) -> int:
    if not Path(CHROMIUM).exists():
        print(f"screenshots: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="exptrace-screens-"))
    settings = IngestSettings(
        data_dir=data_dir,
        grpc_endpoint=f"127.0.0.1:{_free_port()}",
        http_endpoint=f"127.0.0.1:{_free_port()}",
        flush_interval=0.5,
    )
    server = IngestServer(settings)
    registry = Registry(server.store)
    # The pages and the API want a token (OTLP stays open), so the run starts at the sign-in.
    server.add_routes(api_routes(Queries(server.store, registry), registry, bearer_check(TOKEN)))
    server.start()
    try:
        start = time.time() - 5
        for experiment in demo.EXPERIMENTS:
            registry.create(experiment, actor="demo")
            registry.start(experiment.id, actor="demo")
        names = ("frontend", "checkout", "inventory", "search")
        ports = {name: _free_port() for name in names}
        apps, telemetries = demo.build_services(f"127.0.0.1:{server.grpc_port}", ports)
        url = f"http://127.0.0.1:{ports['frontend']}/checkout"
        with demo.serving(apps, ports):
            asyncio.run(demo.drive(url, requests // 2))
            registry.update(
                "checkout-v2",
                "release-bot",
                artifacts={
                    **demo.EXPERIMENTS[0].artifacts,
                    "B": {**demo.EXPERIMENTS[0].artifacts["B"], "image": "shop:2.1.1"},
                },
            )
            asyncio.run(demo.drive(url, requests - requests // 2))
        for t in telemetries:
            t.shutdown()
        server.flusher.flush_now(120)
        window = urllib.parse.urlencode({"from": _stamp(start), "to": _stamp(time.time() + 5)})
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
                query = "" if path == "/ui/burn" else f"?{window}"
                response, visit = browser.open(f"{origin}{path}{query}")
                target = out / f"{name}.png"
                browser.page.screenshot(path=str(target), full_page=True)
                problems = f", console errors: {visit.errors}" if visit.errors else ""
                print(f"  {target} (HTTP {response.status}){problems}")
        finally:
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("exptrace-screenshots"))
    parser.add_argument("--requests", type=int, default=2400, help="demo requests to drive")
    args = parser.parse_args()
    sys.exit(run(args.out, args.requests))


if __name__ == "__main__":
    main()
