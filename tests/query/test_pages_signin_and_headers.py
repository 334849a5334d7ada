"""The pages of a running receiver: sign-in returns only under /ui, and every response under
/ui, errors included, carries the same security headers."""

import httpx
import pytest

from tests.query.pagedata import base_url, with_api

TOKEN = "s3cret-token"
SECURITY = {
    "content-security-policy": "default-src 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _sign_in(client: httpx.Client, target: str) -> httpx.Response:
    form = client.get("/ui/signin")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    return client.post("/ui/signin", params={"next": target}, data={"csrf": csrf, "token": TOKEN})


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/uievil", "/ui"),
        ("/ui.evil.example", "/ui"),
        ("/ui%2F%2Fevil.example", "/ui"),
        ("/ui/\r\nSet-Cookie: a=b", "/ui"),
        ("/ui/\t/evil.example", "/ui"),
        ("//evil.example/ui", "/ui"),
        ("/ui", "/ui"),
        ("/ui/coverage", "/ui/coverage"),
        ("/ui?last=6h", "/ui?last=6h"),
        # Before: accepted as is, and the browser resolved it to /evil.
        ("/ui/../../evil", "/ui"),
        ("/ui/%2e%2e/%2E%2E/evil", "/ui"),
        ("/ui/..%2f..%2fevil", "/ui"),
        ("/ui/..\\evil", "/ui"),
        ("/ui%5c..%5cevil", "/ui"),
        ("/ui/..", "/ui"),
        ("/ui/coverage/../burn?last=1h", "/ui/burn?last=1h"),
        ("/ui/%252e%252e/evil", "/ui/%252e%252e/evil"),  # decoded once: a name, not a dot
    ],
)
def test_sign_in_returns_only_to_ui_or_a_path_under_it(make_receiver, target, landing):
    """After the right token, the browser lands on the page it asked for when that is /ui or
    under it, else on /ui: never on a look-alike path or another host."""
    server = make_receiver(with_api(TOKEN))
    with httpx.Client(base_url=base_url(server), follow_redirects=False, timeout=30) as client:
        response = _sign_in(client, target)
        assert response.status_code == 303
        assert response.headers["location"] == landing


def test_every_response_under_ui_carries_the_security_headers(make_receiver):
    """A 404 for an unknown page, a 405, a style sheet, a redirect to sign-in and the form
    itself all carry CSP default-src 'none' with frame-ancestors 'none', nosniff and the
    referrer policy; outside /ui nothing changes."""
    server = make_receiver(with_api(TOKEN))
    bearer = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url(server), follow_redirects=False, timeout=30) as client:
        answers = {
            "unknown page": (client.get("/ui/nosuch", headers=bearer), 404),
            "unknown page, signed out": (client.get("/ui/nosuch/deeper"), 404),
            "wrong method": (client.post("/ui/coverage", headers=bearer), 405),
            "unknown asset": (client.get("/ui/static/nothing.js"), 404),
            "style sheet": (client.get("/ui/static/exptrace.css"), 200),
            "to sign-in": (client.get("/ui/coverage"), 303),
            "sign-in form": (client.get("/ui/signin"), 200),
            "page": (client.get("/ui", headers=bearer), 200),
        }
        for name, (response, status) in answers.items():
            assert response.status_code == status, (name, response.status_code)
            for header, value in SECURITY.items():
                assert value in response.headers.get(header, ""), (name, header)
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        missing = answers["unknown page"][0]
        assert "Not found" in missing.text and "<nav>" in missing.text
        assert answers["style sheet"][0].headers["cache-control"] == "max-age=3600"
        assert answers["page"][0].headers["cache-control"] == "no-store"
        outside = client.get("/api/v1/experiments", headers=bearer)
        assert outside.status_code == 200 and "content-security-policy" not in outside.headers


def test_a_page_window_the_store_cannot_hold_is_a_400(make_receiver):
    """The pages share the API's window check: a 400 naming the range, not "store failed"."""
    server = make_receiver(with_api())
    with httpx.Client(base_url=base_url(server), timeout=30) as client:
        for query in ("from=0001-01-01T00:00&to=9999-01-01T00:00", "to=2262-05-01T00:00"):
            response = client.get(f"/ui/coverage?{query}")
            assert response.status_code == 400, (query, response.status_code)
            assert "2262-04-11" in response.text and "DB::Exception" not in response.text
