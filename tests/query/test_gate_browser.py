"""Another web page cannot drive the tokenless ``exptrace up`` through a real Chromium.

Before: a page on another origin created an experiment (control 1 / evil 99) with a
``no-cors`` ``text/plain`` fetch and stopped a running one with a ``<form
enctype=text/plain>``: neither needs a preflight, the API parsed any body as JSON, and the Host
header was never checked, so DNS rebinding could read the API too. Now the registry reads back
unchanged, and a page reached under another host name is refused.
"""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import pytest

from benchmarks.browser import Browser
from tests.query.browser import chromium_path
from tests.query.exptrace_cli import Server

# A text/plain form posts "name=value": the name and value make the body one JSON object.
FORM_NAME = json.dumps({"id": "evil-form", "variants": {"control": 1, "evil": 99}, "pad": ""})[:-2]
ATTACK = """<!doctype html><title>cat pictures</title>
<form method="post" enctype="text/plain" action="{api}/experiments/running/stop">
<input type="hidden" name='{name}' value='"}}'></form>
<script>
window.fetched = fetch("{api}/experiments", {{
  method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{id: "evil", variants: {{control: 1, evil: 99}}}}),
}}).then(() => "sent", (e) => "failed: " + e);
</script>"""


class AttackerSite:
    """A page on another origin (another port of loopback) that attacks ``api``."""

    def __init__(self, api: str) -> None:
        page = ATTACK.format(api=api, name=FORM_NAME.replace("'", "&#39;")).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def up(tmp_path):
    server = Server(tmp_path / "data").start()
    yield server
    server.stop()


def _registry(up: Server) -> dict[str, str]:
    answer = httpx.get(f"{up.url}/api/v1/experiments", timeout=60)
    assert answer.status_code == 200, answer.text
    return {e["id"]: e["status"] for e in answer.json()}


def test_a_page_on_another_origin_cannot_create_or_stop_an_experiment(up):
    chromium_path()
    api = f"{up.url}/api/v1"
    headers = {"content-type": "application/json"}
    assert httpx.post(f"{api}/experiments", json={"id": "running"}, timeout=60).status_code == 201
    assert httpx.post(f"{api}/experiments/running/start", json={}, headers=headers).is_success
    site = AttackerSite(api)
    browser = Browser()
    try:
        browser.page.goto(site.url)
        assert browser.page.evaluate("window.fetched") == "sent"  # the browser did send it
        with browser.page.expect_navigation() as navigation:
            browser.page.evaluate("document.forms[0].submit()")
        assert navigation.value.status in (403, 415)
    finally:
        browser.close()
        site.close()
    assert _registry(up) == {"running": "running"}


def test_a_page_reached_under_another_host_name_is_refused(up):
    """DNS rebinding: evil.example resolves to the server, so the page is same-origin with
    the API under that name; the server answers nothing under a name that is not its own.
    This Chromium's own local-network-access check would block the rebound fetches by itself;
    it is turned off here, as browsers without it (Firefox, Safari) are, to test the server."""
    chromium_path()
    browser = Browser(
        "--host-resolver-rules=MAP evil.example 127.0.0.1",
        "--disable-features=BlockInsecurePrivateNetworkRequests,LocalNetworkAccessChecks",
    )
    try:
        rebound = f"http://evil.example:{up.http_port}"
        assert browser.page.goto(f"{rebound}/ui").status == 403
        # The attacker's page came from evil.example before the name was rebound to the
        # server: served here by the browser itself, every later request goes to the server.
        browser.page.route(
            f"{rebound}/attack",
            lambda route: route.fulfill(body="<p>hi</p>", content_type="text/html"),
        )
        browser.page.goto(f"{rebound}/attack")
        read = "fetch('/api/v1/experiments').then(r => r.status)"
        assert browser.page.evaluate(read) == 403
        write = (
            "fetch('/api/v1/experiments', {method: 'POST', body: '{\"id\": \"rebound\"}', "
            "headers: {'Content-Type': 'application/json'}}).then(r => r.status)"
        )
        assert browser.page.evaluate(write) == 403
        # The same browser under the server's own address gets the pages.
        assert browser.page.goto(f"{up.url}/ui").status == 200
    finally:
        browser.close()
    assert _registry(up) == {}
