"""Bad input to the HTTP API of a running receiver: a 400 that says what is wrong, never a raw
engine exception, never a 503 (which means the store failed), and nothing stored."""

import httpx
import pytest

from tests.query.pagedata import base_url, with_api

BAD_RECORDS = [
    ({"id": "b1", "variants": {"a": True, "b": 1}}, "weight of variant 'a'"),
    ({"id": "b2", "variants": {"a": "1", "b": 1}}, "weight of variant 'a'"),
    ('{"id": "b3", "variants": {"a": 1e400}}', "weight of variant 'a'"),
    ('{"id": "b3n", "variants": {"a": NaN, "b": 1}}', "weight of variant 'a'"),
    ({"id": "b4", "variants": ["a", "b"]}, "variants must map each name to its weight"),
    ({"id": "b5", "variants": {"a": 10**400}}, "weight of variant 'a'"),
    ({"id": 5, "variants": {"a": 1}}, "id must be a string"),
    ({"id": "b6", "name": 5, "variants": {"a": 1}}, "name must be a string"),
    ({"id": "b7", "scope": "checkout", "variants": {"a": 1}}, "scope must be a list"),
    ({"id": "b8", "artifacts": {"a": {"model": 7}}, "variants": {"a": 1}}, "artifacts must map"),
    ({"id": "b9", "slo": {"availability": True}, "variants": {"a": 1}}, "slo availability"),
    ({"id": "b10", "slo": [0.999], "variants": {"a": 1}}, "slo must map"),
    ({"id": "b11", "start_time": "garbage", "variants": {"a": 1}}, "set by the registry"),
    ({"id": "b12", "actor": {"who": "x"}, "variants": {"a": 1}}, "actor must be a string"),
    ({"id": "b13", "control": 5, "variants": {"a": 1}}, "control must be a string"),
]


@pytest.fixture
def api(make_receiver):
    server = make_receiver(with_api())
    with httpx.Client(base_url=base_url(server) + "/api/v1", timeout=60) as client:
        yield client


@pytest.mark.parametrize(("record", "fragment"), BAD_RECORDS, ids=lambda v: str(v)[:40])
def test_a_registry_record_of_the_wrong_types_is_a_400_and_stores_nothing(api, record, fragment):
    """The user reads which field is wrong and nothing is stored. (Raw text
    for what Python's JSON reader takes but a JSON writer refuses: 1e400, NaN.)"""
    if isinstance(record, str):
        headers = {"content-type": "application/json"}
        response = api.post("/experiments", content=record, headers=headers)
    else:
        response = api.post("/experiments", json=record)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert fragment in message, message
    assert "DB::Exception" not in message
    assert api.get("/experiments").json() == []
    # The same record with sound types is taken: the refusal was about the types alone.
    assert api.post("/experiments", json={"id": "sound", "variants": {"a": 1}}).status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "/coverage?from=0001-01-01T00:00&to=9999-01-01T00:00",
        "/coverage?to=2262-05-01T00:00",
        "/lag?from=1899-12-31T23:00&to=1900-01-01T01:00",
        "/slis?from=2262-04-11T23:00&to=2262-04-11T23:50",
        "/slis?from=2262-04-11T23:40&to=2262-04-11T23:47",  # was the engine's decimal overflow
        "/incident?from=0001-01-01T00:00&to=0001-01-02T00:00",
        "/report/x?from=0001-01-01T00:00",
        "/burn?at=9999-01-01T00:00",
    ],
)
def test_a_window_the_store_cannot_hold_is_a_400_naming_the_range(api, query):
    response = api.get(query)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert "1900-01-01" in message and "2262-04-11" in message, message
    assert "DB::Exception" not in message


def test_the_edges_of_the_range_are_answered(api):
    """Positive evidence that the check is the store's range, not something narrower."""
    response = api.get("/coverage?from=1900-01-01T00:00&to=2262-04-11T22:47:16")
    assert response.status_code == 200, response.text
    assert response.json()["requests"] == 0
    assert api.get("/burn?at=2262-04-11T22:00").status_code == 200
    # every question at the top edge answers: their spans are read a trace horizon past it
    # (the engine's decimal overflow, a 503, when the edge was the store's own)
    top = "from=2262-04-11T21:47&to=2262-04-11T22:47:16"
    api.post("/experiments", json={"id": "edge", "variants": {"control": 1, "B": 1}})
    for path in ("/slis", "/incident", "/report/edge", "/report/edge?exact=true&"):
        url = f"{path}{'&' if '?' in path else '?'}{top}".replace("&&", "&")
        assert api.get(url).status_code == 200, (url, api.get(url).text)


def test_an_unknown_status_is_a_400_naming_the_statuses(api):
    """As the CLI refuses ``--status weird``, so does the API, rather than an empty list."""
    api.post("/experiments", json={"id": "listed", "variants": {"a": 1}})
    response = api.get("/experiments?status=weird")
    assert response.status_code == 400
    assert "draft, running, stopped, archived" in response.json()["error"]
    drafts = api.get("/experiments?status=draft")
    assert drafts.status_code == 200 and [e["id"] for e in drafts.json()] == ["listed"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("/coverage?bucket_seconds=-1", "bucket_seconds"),
        ("/coverage?bucket_seconds=0", "bucket_seconds"),
        ("/coverage?bucket_seconds=5000000000", "bucket_seconds"),
        ("/coverage?threshold=abc", "threshold"),
        ("/propagation?threshold=nan", "threshold"),
        ("/propagation?threshold=2", "threshold"),
        ("/slis?by_route=maybe", "by_route"),
        ("/slis?by_service=2", "by_service"),
    ],
)
def test_numbers_outside_what_a_parameter_means_are_a_400(api, query, fragment):
    response = api.get(query)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
