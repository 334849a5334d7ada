"""The registry-backed assigner against a stub registry over real HTTP (stdlib server)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from exptrace.propagation import (
    PropagationSettings,
    RegistryAssigner,
    RegistrySettings,
    SettingsError,
)
from tests.propagation.apps import starlette_app, wrap_asgi

DEADLINE = 60.0


class StubRegistry:
    """Answers ``/api/v1/assignments`` like exptrace: ETag, 304, bearer token."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.status = 200
        self.experiments: dict = {}
        self.requests: list[dict[str, str]] = []
        self.delay = 0.0

    def set(self, experiment: str, status: str = "running", rolled_back=(), **variants):
        self.experiments[experiment] = {
            "status": status,
            "variants": variants or {"control": 50, "B": 50},
            "control": "control",
            "rolled_back": list(rolled_back),
        }

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        self.requests.append({k.lower(): v for k, v in handler.headers.items()})
        time.sleep(self.delay)
        if self.token and handler.headers.get("authorization") != f"Bearer {self.token}":
            handler.send_response(401)
        elif self.status != 200:
            handler.send_response(self.status)
        else:
            body = json.dumps({"experiments": self.experiments}, sort_keys=True).encode()
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if handler.headers.get("if-none-match") == etag:
                handler.send_response(304)
                handler.send_header("ETag", etag)
                handler.end_headers()
                return
            handler.send_response(200)
            handler.send_header("ETag", etag)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_header("content-length", "0")
        handler.end_headers()


@contextlib.contextmanager
def serve(stub: StubRegistry) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client gave up
                stub.answer(self)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        time.sleep(0.01)


def client(telemetry, assigner, settings=None) -> TestClient:
    app = wrap_asgi(starlette_app(telemetry), telemetry, "outside", settings, assigner=assigner)
    return TestClient(app)


def test_assigns_by_weights_and_moves_rolled_back_units_to_control(telemetry):
    stub = StubRegistry()
    stub.set("checkout-v2", control=50, B=50)
    with serve(stub) as url:
        settings = RegistrySettings(url=url, poll_seconds=0.05)
        assigner = RegistryAssigner(settings, unit_header="x-user-id")
        try:
            assert assigner.ready(DEADLINE)
            web = client(telemetry, assigner)
            seen = {
                web.get("/", headers={"x-user-id": f"u{i}"}).json()["checkout-v2"]
                for i in range(40)
            }
            assert seen == {"control", "B"}
            carried = {"baggage": "exp.checkout-v2=B,userId=alice"}
            assert web.get("/", headers=carried).json() == {"checkout-v2": "B"}

            stub.set("checkout-v2", rolled_back=["B"], control=50, B=50)
            until(
                lambda: assigner.revise({"checkout-v2": "B"}) == {"checkout-v2": "control"},
                "the rollback reached the assigner",
            )
            for i in range(40):
                answer = web.get("/", headers={"x-user-id": f"u{i}"}).json()
                assert answer == {"checkout-v2": "control"}
            # Units arriving with the old variant (baggage, edge header) go to control too.
            assert web.get("/", headers=carried).json() == {"checkout-v2": "control"}
            edge = {"x-experiment": "checkout-v2=B"}
            assert web.get("/", headers=edge).json() == {"checkout-v2": "control"}
            # An ETag that matches answers 304 and keeps the copy.
            until(lambda: "if-none-match" in stub.requests[-1], "a conditional poll")
            assert assigner.status.fetched and assigner.status.last_error is None
        finally:
            assigner.close()


def test_a_stopped_experiment_assigns_nothing_and_its_members_are_dropped(telemetry):
    stub = StubRegistry()
    stub.set("banner", status="stopped")
    stub.set("old", status="archived")
    stub.set("draft", status="draft")
    stub.set("search", control=1, B=1)
    with serve(stub) as url:
        assigner = RegistryAssigner(RegistrySettings(url=url), unit_header="x-user-id")
        try:
            assert assigner.ready(DEADLINE)
            web = client(telemetry, assigner)
            answer = web.get(
                "/",
                headers={
                    "x-user-id": "u1",
                    "baggage": "exp.banner=B,exp.old=B,exp.draft=B,exp.other=x,keep=1",
                },
            ).json()
            # Ended experiments leave; drafts and experiments the registry does not name stay.
            assert set(answer) == {"draft", "other", "search"}
            assert (answer["draft"], answer["other"]) == ("B", "x")
        finally:
            assigner.close()


def test_the_cookie_of_a_rolled_back_unit_is_rewritten(telemetry):
    stub = StubRegistry()
    stub.set("checkout-v2", rolled_back=["B"])
    with serve(stub) as url:
        assigner = RegistryAssigner(RegistrySettings(url=url), unit_cookie="uid")
        try:
            assert assigner.ready(DEADLINE)
            web = client(
                telemetry, assigner, PropagationSettings(cookie_name="exp", set_cookie=True)
            )
            response = web.get("/", headers={"cookie": "uid=u1; exp=checkout-v2=B"})
            assert response.json() == {"checkout-v2": "control"}
            assert "exp=checkout-v2=control" in response.headers["set-cookie"]
        finally:
            assigner.close()


def test_before_the_first_fetch_nothing_is_assigned_and_baggage_stays(telemetry):
    stub = StubRegistry()
    stub.status = 503
    stub.set("checkout-v2", rolled_back=["B"])
    with serve(stub) as url:
        assigner = RegistryAssigner(
            RegistrySettings(url=url, poll_seconds=0.05), unit_header="x-user-id"
        )
        try:
            until(lambda: assigner.status.last_error == "HTTP 503", "a failed poll")
            assert not assigner.ready(0) and not assigner.status.fetched
            web = client(telemetry, assigner)
            assert web.get("/", headers={"x-user-id": "u1"}).json() == {}
            carried = {"baggage": "exp.checkout-v2=B"}
            assert web.get("/", headers=carried).json() == {"checkout-v2": "B"}
        finally:
            assigner.close()


def test_the_last_good_copy_stays_when_polls_fail_and_the_token_is_sent(telemetry):
    stub = StubRegistry(token="s3cret")
    stub.set("checkout-v2", rolled_back=["B"])
    with serve(stub) as url:
        settings = RegistrySettings(url=url, token="s3cret", poll_seconds=0.05)
        assigner = RegistryAssigner(settings, unit_header="x-user-id")
        try:
            assert assigner.ready(DEADLINE)
            assert stub.requests[0]["authorization"] == "Bearer s3cret"
            stub.status = 500
            until(lambda: assigner.status.last_error == "HTTP 500", "a failed poll")
            assert assigner.revise({"checkout-v2": "B"}) == {"checkout-v2": "control"}
            stub.status = 200
            until(lambda: assigner.status.last_error is None, "polls answering again")
        finally:
            assigner.close()
    # The registry gone altogether: requests still get the last good copy, at once.
    web = client(telemetry, assigner)
    carried = {"baggage": "exp.checkout-v2=B"}
    assert web.get("/", headers=carried).json() == {"checkout-v2": "control"}


def test_a_slow_answer_or_a_body_that_is_not_the_config_is_a_failed_poll():
    stub = StubRegistry()
    stub.set("checkout-v2")
    with serve(stub) as url:
        assigner = RegistryAssigner(RegistrySettings(url=url), start=False)
        assigner.poll()
        assert assigner.status.fetched
        stub.experiments = {"checkout-v2": {"variants": "not weights"}}
        stub.set("bad id")
        assigner.poll()
        assert "malformed" in assigner.status.last_error
        assert assigner.revise({"checkout-v2": "B"}) == {"checkout-v2": "B"}  # the good copy
        stub.delay = 2.0
        slow = RegistryAssigner(RegistrySettings(url=url, timeout_seconds=0.2), start=False)
        slow.poll()
        assert "timed out" in slow.status.last_error and not slow.status.fetched


def test_a_wrong_token_or_a_redirect_is_a_failed_poll_not_a_config():
    stub = StubRegistry(token="right")
    with serve(stub) as url:
        assigner = RegistryAssigner(RegistrySettings(url=url, token="wrong"), start=False)
        assigner.poll()
        assert assigner.status.last_error == "HTTP 401" and not assigner.status.fetched
    stub = StubRegistry()
    stub.status = 307
    with serve(stub) as url:
        assigner = RegistryAssigner(RegistrySettings(url=url), start=False)
        assigner.poll()
        assert assigner.status.last_error == "HTTP 307"


def test_settings_come_from_the_environment_and_name_the_variable():
    settings = RegistrySettings.from_env(
        {
            "EXPTRACE_REGISTRY_URL": "http://exptrace:4318",
            "EXPTRACE_REGISTRY_TOKEN": "t",
            "EXPTRACE_REGISTRY_POLL_SECONDS": "2.5",
        }
    )
    assert (settings.url, settings.token, settings.poll_seconds) == (
        "http://exptrace:4318",
        "t",
        2.5,
    )
    assert RegistrySettings(url="http://x").poll_seconds == 10.0
    with pytest.raises(SettingsError, match="EXPTRACE_REGISTRY_URL is needed"):
        RegistrySettings.from_env({})
    with pytest.raises(SettingsError, match="EXPTRACE_REGISTRY_POLL_SECONDS must be above 0"):
        RegistrySettings.from_env(
            {"EXPTRACE_REGISTRY_URL": "http://x", "EXPTRACE_REGISTRY_POLL_SECONDS": "0"}
        )
    with pytest.raises(SettingsError, match="EXPTRACE_REGISTRY_URL must be http"):
        RegistrySettings.from_env({"EXPTRACE_REGISTRY_URL": "ftp://x"})
