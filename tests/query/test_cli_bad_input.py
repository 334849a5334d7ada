"""The real ``exptrace`` command on bad durations, windows and counts, and pointed at the
wrong kind of port: one line on stderr, exit status 2, no traceback, nothing run."""

import json

import pytest

from tests.ingest.test_tls import self_signed
from tests.query.exptrace_cli import Server, assert_one_line_error
from tests.query.exptrace_cli import exptrace as run


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("cli-input") / "data").start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli-tls")
    cert, key = self_signed(directory)
    started = Server(
        directory / "data", EXPTRACE_TLS_CERT_FILE=str(cert), EXPTRACE_TLS_KEY_FILE=str(key)
    ).start()
    started.cert = cert
    yield started
    started.stop()


@pytest.mark.parametrize("through", ["store", "api"])
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["coverage", "--last", "999999999d"], ["too far back", "1900-01-01"]),
        (["coverage", "--last", "99999999999999d"], ["longer than any window"]),
        (["coverage", "--last", "0m"], ["'0m'", "above 0"]),
        (["coverage", "--last", "0h"], ["'0h'", "above 0"]),
        (["report", "x", "--last", "00h"], ["'00h'", "above 0"]),
        (["lag", "--last", "0.0s"], ["above 0"]),
        (["coverage", "--to", "2262-05-01"], ["2262-04-11", "2262-05-01"]),
        (["incident", "--from", "1800-01-01"], ["1900-01-01"]),
        (["burn", "--at", "9999-01-01"], ["2262-04-11", "9999-01-01"]),
    ],
)
def test_a_window_nobody_can_ask_for_is_one_line_and_exit_2(
    server, tmp_path, through, args, fragments
):
    """Through the API and with a store directory alike: the window is checked before anything
    is asked, so the user reads the range the store holds, not an engine exception."""
    where = ["--api", server.url] if through == "api" else ["--data-dir", str(tmp_path)]
    result = run(*args, *where)
    assert_one_line_error(result, *fragments)
    assert "DB::Exception" not in result.stderr


def test_a_window_at_the_edge_of_the_range_is_answered(server):
    """The check refuses only what the store cannot hold."""
    result = run(
        "--json", "coverage", "--from", "1900-01-01", "--to", "2262-04-11", "--api", server.url
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"] == 0


@pytest.mark.parametrize("count", ["-5", "0", "many"])
def test_demo_refuses_a_request_count_below_one_before_running(tmp_path, count):
    """No services are started and no data directory is made for a demo of no requests."""
    result = run("demo", "--requests", count, cwd=tmp_path)
    assert_one_line_error(result, "--requests", f"'{count}'", "at least 1")
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_plain_http_to_a_tls_server_says_use_https(tls_server):
    result = run("experiments", "list", "--api", f"http://127.0.0.1:{tls_server.http_port}")
    assert_one_line_error(result, "TLS server", f"use https://127.0.0.1:{tls_server.http_port}")
    assert "gRPC" not in result.stderr


def test_the_tls_grpc_port_is_named_as_such(tls_server):
    for scheme in ("http", "https"):
        url = f"{scheme}://127.0.0.1:{tls_server.grpc_port}"
        result = run("experiments", "list", "--api", url, SSL_CERT_FILE=str(tls_server.cert))
        assert_one_line_error(result, "HTTP/2 over TLS", "gRPC")


def test_https_to_a_tls_server_works_and_an_untrusted_one_says_how_to_trust_it(tls_server):
    url = f"https://127.0.0.1:{tls_server.http_port}"
    untrusted = run("experiments", "list", "--api", url)
    assert_one_line_error(untrusted, "self-signed certificate", "SSL_CERT_FILE")
    trusted = run("--json", "experiments", "list", "--api", url, SSL_CERT_FILE=str(tls_server.cert))
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout) == []


def test_https_to_a_plain_server_says_use_http(server):
    result = run("experiments", "list", "--api", f"https://127.0.0.1:{server.http_port}")
    assert_one_line_error(result, "does not speak TLS", f"use http://127.0.0.1:{server.http_port}")
