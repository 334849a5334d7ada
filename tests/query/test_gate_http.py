"""The API and the pages against requests a browser page or a guesser can make.

Before: any Content-Type was parsed as JSON, the Host header was never checked, a write from
another origin went through, and 600 sign-in guesses at 924/s (bearer guesses at 2,194/s)
met no 429. Now writes take only ``application/json`` (415), a Host that is not the server's
is refused (403), a tokenless write from another origin is refused (403), and after 10 failed
attempts an address gets 429 with ``Retry-After`` while other addresses are let in.
"""

from __future__ import annotations

import httpx
import pytest

from exptrace.ingest.door.failures import FailureLimit
from exptrace.ingest.settings import IngestSettings
from exptrace.query.web.gate import Hosts
from tests.ingest.door import http_post, span, traces
from tests.ingest.helpers import wait_for
from tests.query.exptrace_cli import Server
from tests.query.pagedata import base_url, with_api

TOKEN = "s3cret-token"
JSON = {"content-type": "application/json"}


@pytest.fixture
def api(make_receiver):
    server = make_receiver(with_api())
    with httpx.Client(base_url=base_url(server), timeout=60) as client:
        yield client


def _ids(client: httpx.Client, **headers: str) -> dict[str, str]:
    answer = client.get("/api/v1/experiments", headers=headers)
    assert answer.status_code == 200, answer.text
    return {e["id"]: e["status"] for e in answer.json()}


def test_api_writes_take_only_json(api):
    body = b'{"id": "plain", "variants": {"control": 1, "evil": 99}}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = api.post(
            "/api/v1/experiments", content=body, headers={"content-type": content_type}
        )
        assert answer.status_code == 415, content_type
        assert "application/json" in answer.json()["error"]
    assert api.post("/api/v1/experiments", content=body).status_code == 415  # no type at all
    ok = {"content-type": "application/json; charset=utf-8"}
    assert api.post("/api/v1/experiments", content=body, headers=ok).status_code == 201
    assert api.post("/api/v1/experiments/plain/start").status_code == 415  # empty, untyped
    assert _ids(api) == {"plain": "draft"}
    assert api.post("/api/v1/experiments/plain/start", json={}).status_code == 200
    assert _ids(api) == {"plain": "running"}


def test_a_tokenless_write_from_another_origin_is_refused(api):
    for origin in ("http://evil.example", "null", f"http://localhost:{api.base_url.port}"):
        answer = api.post("/api/v1/experiments", json={"id": "x"}, headers={"origin": origin})
        assert answer.status_code == 403, origin
        assert "another site" in answer.json()["error"]
    same = {"origin": str(api.base_url).rstrip("/")}
    assert api.post("/api/v1/experiments", json={"id": "same"}, headers=same).status_code == 201
    assert api.post("/api/v1/experiments", json={"id": "cli"}).status_code == 201  # no Origin
    assert api.get("/api/v1/experiments", headers={"origin": "http://evil.example"}).is_success
    assert _ids(api) == {"same": "draft", "cli": "draft"}


def test_with_the_token_a_bearer_write_is_not_origin_checked(make_receiver):
    server = make_receiver(with_api(TOKEN))
    headers = {"authorization": f"Bearer {TOKEN}", "origin": "http://tool.example"}
    answer = httpx.post(f"{base_url(server)}/api/v1/experiments", json={"id": "t"}, headers=headers)
    assert answer.status_code == 201


def test_the_host_header_must_name_the_server(make_receiver):
    server = make_receiver(with_api())
    base, port = base_url(server), server.http_port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        answer = httpx.get(f"{base}/api/v1/experiments", headers={"host": host})
        assert answer.status_code == 403, host
        assert "EXPTRACE_ALLOWED_HOSTS" in answer.json()["error"]
        assert httpx.get(f"{base}/ui", headers={"host": host}).status_code == 403
        write = httpx.post(f"{base}/api/v1/experiments", json={"id": "r"}, headers={"host": host})
        assert write.status_code == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert httpx.get(f"{base}/api/v1/experiments", headers={"host": host}).status_code == 200
    # OTLP and health are not for browsers: collectors reach them under any name.
    request = traces("any-host", [span("op")]).SerializeToString()
    assert http_post(port, "/v1/traces", request, host="collector.svc").status_code == 200
    assert httpx.get(f"{base}/healthz", headers={"host": "lb.example"}).status_code == 200


def test_hosts_on_all_interfaces_are_ip_addresses_localhost_and_the_configured_names():
    everywhere = Hosts.of("0.0.0.0", ["exptrace.internal"])
    assert everywhere.allows("10.1.2.3:4318") and everywhere.allows("[fe80::1]:4318")
    assert everywhere.allows("localhost:4318") and everywhere.allows("EXPTRACE.internal")
    assert not everywhere.allows("evil.example") and not everywhere.allows("10.1.2.3.nip.io")
    one = Hosts.of("192.0.2.7")
    assert one.allows("192.0.2.7:4318") and not one.allows("localhost")
    assert not one.allows("192.0.2.8")
    settings = IngestSettings.from_env({"EXPTRACE_ALLOWED_HOSTS": "a.example, b.example"})
    assert settings.allowed_hosts == ("a.example", "b.example")


def test_exptrace_up_answers_to_the_names_it_is_given(tmp_path):
    server = Server(tmp_path / "data", "--allowed-hosts", "exptrace.internal,ops.example").start()
    try:
        url = f"{server.url}/api/v1/experiments"
        for host, status in (
            ("exptrace.internal", 200),
            ("ops.example:80", 200),
            ("evil.example", 403),
        ):
            assert httpx.get(url, headers={"host": host}, timeout=60).status_code == status, host
    finally:
        server.stop()


def _from(address: str, base: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x address is loopback)."""
    return httpx.Client(
        base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=60
    )


def test_bearer_and_sign_in_failures_are_rate_limited_per_address(make_receiver):
    server = make_receiver(with_api(TOKEN))
    base = base_url(server)
    wrong, right = {"authorization": "Bearer guess"}, {"authorization": f"Bearer {TOKEN}"}
    with _from("127.0.0.2", base) as guesser, _from("127.0.0.3", base) as other:
        statuses = [
            guesser.get("/api/v1/experiments", headers=wrong).status_code for _ in range(30)
        ]
        assert statuses[:10] == [401] * 10
        assert set(statuses[10:]) == {429}, statuses
        limited = guesser.get("/api/v1/experiments", headers=right)
        assert limited.status_code == 429  # while limited, even the right token waits
        assert int(limited.headers["retry-after"]) >= 1
        # A guess through a page's bearer header counts the same.
        assert guesser.get("/ui", headers=wrong).status_code == 429
        # Another client with the right token is let in.
        assert other.get("/api/v1/experiments", headers=right).status_code == 200
        # Once the wait is over, the guesser may try again (one attempt per second).
        wait_for(
            lambda: guesser.get("/api/v1/experiments", headers=right).status_code == 200,
            timeout=60,
            interval=0.5,
        )

    with _from("127.0.0.4", base) as signer:
        codes = []
        for _ in range(12):
            form = signer.get("/ui/signin")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            codes.append(
                signer.post("/ui/signin", data={"csrf": csrf, "token": "guess"}).status_code
            )
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
        form = signer.get("/ui/signin")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        answer = signer.post("/ui/signin", data={"csrf": csrf, "token": TOKEN})
        assert answer.status_code == 429 and "retry-after" in answer.headers


def test_the_failure_limit_remembers_a_bounded_number_of_addresses():
    """10 failures at once, then one more per second; 10,000 addresses at most, the least
    recently seen forgotten first."""
    now = [0.0]
    limit = FailureLimit(clock=lambda: now[0])
    for n in range(20_000):
        limit.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(limit) == 10_000
    assert limit.wait("10.0.0.0") == 0  # forgotten: a fresh start
    for _ in range(10):
        assert limit.wait("a") == 0
        limit.failed("a")
    assert limit.wait("a") == pytest.approx(1.0)
    now[0] += 0.5
    assert limit.wait("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limit.wait("a") == 0
    limit.failed("a")
    assert limit.wait("a") == pytest.approx(1.0)
