"""The pages over plain HTTP: sign-in with a token, status codes, and what the pages refuse."""

import re
import ssl
import urllib.parse

import httpx

from exptrace.query.web.page_effects import method_words
from tests.ingest.test_tls import self_signed
from tests.query.pagedata import HOSTILE_ID, base_url, populate, with_api

TOKEN = "s3cret-token"


def _signin(client: httpx.Client, token: str, **headers: str) -> httpx.Response:
    form = client.get("/ui/signin?next=/ui/incident")
    assert form.status_code == 200
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    return client.post(
        "/ui/signin?next=/ui/incident",
        data={"csrf": csrf, "token": token},
        headers=headers,
    )


def test_a_browser_signs_in_with_the_token_and_the_api_still_wants_the_bearer(make_receiver):
    """With EXPTRACE_TOKEN set, a page sends the browser to the sign-in form; the right token
    gives an HttpOnly, SameSite=Strict session cookie (not Secure over plain HTTP) and lands on
    the page asked for; the cookie never opens the API, which keeps answering 401 without
    the bearer header."""
    server = make_receiver(with_api(TOKEN))
    with httpx.Client(base_url=base_url(server), follow_redirects=False, timeout=30) as client:
        first = client.get("/ui/incident?last=6h")
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/signin?next=%2Fui%2Fincident%3Flast%3D6h"

        wrong = _signin(client, "not-the-token")
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert _signin(client, "s3cret-t€ken").status_code == 401
        assert "exptrace_session" not in wrong.headers.get("set-cookie", "")

        right = _signin(client, TOKEN)
        assert right.status_code == 303 and right.headers["location"] == "/ui/incident"
        cookie = next(c for c in right.headers.get_list("set-cookie") if "exptrace_session=" in c)
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags

        page = client.get("/ui/incident")
        assert page.status_code == 200 and "Incident" in page.text
        assert client.get("/api/v1/experiments").status_code == 401
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/v1/experiments", headers=bearer).status_code == 200
        assert client.get("/ui", headers=bearer).status_code == 200

        assert client.post("/ui/signout").status_code == 303
        client.cookies.clear()
        assert client.get("/ui").status_code == 303


def test_sign_in_refuses_forged_forms_and_open_redirects(make_receiver):
    """A form posted without the CSRF token the form page set (400), from another site's
    Origin (403), or with a ``next`` outside /ui (sent to /ui instead) gets no session."""
    server = make_receiver(with_api(TOKEN))
    with httpx.Client(base_url=base_url(server), timeout=30) as client:
        no_csrf = client.post("/ui/signin", data={"token": TOKEN})
        assert no_csrf.status_code == 400 and "expired" in no_csrf.text
        foreign = _signin(client, TOKEN, origin="https://evil.example")
        assert foreign.status_code == 403
        assert "exptrace_session" not in foreign.headers.get("set-cookie", "")
    with httpx.Client(base_url=base_url(server), timeout=30) as client:
        form = client.get("/ui/signin")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        response = client.post(
            "/ui/signin?next=//evil.example/x", data={"csrf": csrf, "token": TOKEN}
        )
        assert response.status_code == 303 and response.headers["location"] == "/ui"


def test_session_cookie_is_secure_over_tls(make_receiver, tmp_path):
    """Served over TLS, the session cookie also carries Secure."""
    cert, key = self_signed(tmp_path)
    server = make_receiver(with_api(TOKEN), tls_cert_file=str(cert), tls_key_file=str(key))
    url = f"https://127.0.0.1:{server.http_port}"
    with httpx.Client(
        base_url=url, verify=ssl.create_default_context(cafile=str(cert)), timeout=30
    ) as client:
        response = _signin(client, TOKEN)
        assert response.status_code == 303
        cookie = [c for c in response.headers.get_list("set-cookie") if "exptrace_session=" in c]
        assert "secure" in {part.strip().lower() for part in cookie[0].split(";")}


def test_unknown_unregistered_and_bad_requests(make_receiver):
    """An experiment only seen in telemetry has a page (200, marked unregistered); one neither
    registered nor seen is a 404 that names it as text; a bad window is a 400 saying why."""
    server = make_receiver(with_api())
    populate(server)
    with httpx.Client(base_url=base_url(server), timeout=60) as client:
        ghost = client.get("/ui/experiments/ghost-exp")
        assert ghost.status_code == 200 and "Not in the registry" in ghost.text
        assert "on 150" in ghost.text  # sample sizes of the telemetry's variants
        missing = client.get("/ui/experiments/" + urllib.parse.quote(HOSTILE_ID, safe=""))
        assert missing.status_code == 404
        assert "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;" in missing.text
        assert "<script>" not in missing.text
        backwards = client.get("/ui/incident?from=2026-01-02T00:00&to=2026-01-01T00:00")
        assert backwards.status_code == 400 and "start must be before its end" in backwards.text
        assert client.get("/ui/coverage?last=2y").status_code == 400
        assert client.get("/ui/static/nothing.js").status_code == 404
        page = client.get("/ui")
        assert "default-src 'none'" in page.headers["content-security-policy"]


def test_every_page_answers_on_an_empty_store(make_receiver):
    """Before any telemetry arrives, every page loads and says there is nothing yet, rather
    than failing."""
    server = make_receiver(with_api())
    with httpx.Client(base_url=base_url(server), timeout=60) as client:
        for path in ("/ui", "/ui/incident", "/ui/coverage", "/ui/propagation", "/ui/burn"):
            page = client.get(path)
            assert page.status_code == 200, path
        for path in ("/ui/lag", "/ui/cardinality"):
            assert client.get(path).status_code == 200, path
        assert "no tagged trace in this window" in client.get("/ui/propagation").text
        incident = client.get("/ui/incident").text
        assert "No verdict</b>: no request in this window" in incident
        assert "banner good" not in incident  # no green all-clear over nothing
        typo = client.get("/ui/incident", params={"service": "chekout"}).text
        assert "no request from service &#x27;chekout&#x27; in this window" in typo
        assert "pipeline measure is not stored" in client.get("/ui/lag").text


def test_the_experiment_page_reads_as_a_result_page(make_receiver):
    """Unit and method in words (no field dump), one row per metric with its own verdict,
    absolute and relative effects with intervals, the minimum detectable effect in the
    metric's units, a cumulative effect chart over the run, and the failing variant's
    example failed traces by id."""
    server = make_receiver(with_api())
    populate(server)
    page = httpx.get(f"{base_url(server)}/ui/experiments/checkout-v2", timeout=60).text
    facts = page.split('<p class="facts">')[1].split("</p>")[0]
    assert "requests: no request carries exptrace.unit (the default, as registered)" in facts
    assert "attribute_from" not in page and "identified_units" not in page
    assert "always valid (confidence sequences, tightest near 1,000 units)" in facts
    effects = page.split("<h3>Per metric</h3>")[1].split("</table>")[0]
    rows = effects.split("<tr")[2:]
    assert [r.split("<td>")[2].split("<")[0] for r in rows] == [
        "error rate",
        "p50 latency",
        "p95 latency",
        "p99 latency",
    ]
    error_row = rows[0]
    assert "more errors" in error_row and " pp [" in error_row and "% [" in error_row
    assert re.search(r"±\d+\.\d\d pp", error_row)
    assert re.search(r"±[\d,]+\.\d ms", rows[1])  # p50: the MDE in milliseconds
    assert "None" not in effects and "more errors" not in "".join(rows[1:])
    assert "not compared: too few requests for p99" in rows[3]
    assert "Cumulative error rate difference against control over the run" in page
    examples = page.split('id="failed-B"')[1]
    assert examples.count("<code>") >= 5 and 'href="#failed-B"' in page


def test_the_method_words_name_the_planned_boundary_and_how_far_it_has_come():
    method = {
        "name": "always-valid",
        "boundary": "obrien-fleming+mixture",
        "expected_units": 20_000,
        "information_fraction": {"B": 0.25, "C": 0.3},
        "multiplicity": "holm",
        "error_rate": "e",
        "latency": "l",
    }
    words, _ = method_words({"method": method})
    assert words.startswith(
        "always valid (O'Brien-Fleming to the planned 20,000 units, 30% of the way, "
        "with a confidence sequence)"
    )
