"""OTLP/JSON the protobuf library chokes on is a 400, never a 500.

Before: ``{"\\ud800":1}`` (a lone surrogate, valid JSON, not text) made upb raise a
``SystemError`` and the receiver answer 500 (37 of 1,800 JSON mutations). Now lone
surrogates are refused by name, anything else the parser raises is a 400, and generated
OTLP-shaped documents (OTLP field names, lone surrogates, huge and non-finite numbers, wrong
types at every depth) get 200 or 400 only, after which a good export is still taken.
"""

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.door import http_post, otlp_json, span, traces
from tests.ingest.helpers import query

JSON = {"content-type": "application/json"}
FIELDS = [
    "resourceSpans",
    "resource",
    "attributes",
    "key",
    "value",
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "arrayValue",
    "values",
    "kvlistValue",
    "bytesValue",
    "scopeSpans",
    "scope",
    "name",
    "version",
    "spans",
    "traceId",
    "spanId",
    "parentSpanId",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "kind",
    "status",
    "code",
    "message",
    "events",
    "links",
    "droppedAttributesCount",
    "flags",
    "traceState",
    "schemaUrl",
    "timeUnixNano",
]
ODD_TEXT = ["\ud800", "\udfff", "a\udc00b", "\x00", "😀", "é", "", "0" * 40, "zz"]

text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udbff", "\udc00"]))),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
keys = st.one_of(st.sampled_from(FIELDS), text)
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=4,
)


def test_a_lone_surrogate_is_400(receiver):
    for body in (
        b'{"\\ud800":1}',
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"\\ud800"}]}]}]}',
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a\\udc00"}]}]}]}',
    ):
        answer = http_post(receiver.http_port, "/v1/traces", body, **JSON)
        assert answer.status_code == 400, (body, answer.text)
        assert "lone UTF-16 surrogate" in answer.json()["message"]
    # A surrogate pair is text: an emoji in a span name is stored.
    good = traces("pair", [span("\U0001f600")])
    body = otlp_json(good)
    assert b"\\ud83d\\ude00" in body  # json.dumps escapes it as a pair
    assert http_post(receiver.http_port, "/v1/traces", body, **JSON).status_code == 200
    assert query(receiver, "SELECT SpanName FROM otel_traces") == [["\U0001f600"]]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=documents, wrap=st.booleans())
def test_generated_json_is_200_or_400(receiver, document, wrap):
    if wrap:  # put it where the parser looks deepest: inside a span
        document = {"resourceSpans": [{"scopeSpans": [{"spans": [document]}]}]}
    body = json.dumps(document).encode()  # ensure_ascii: lone surrogates as \\uXXXX escapes
    answer = http_post(receiver.http_port, "/v1/traces", body, **JSON)
    assert answer.status_code in (200, 400), (body[:300], answer.text[:300])
    assert answer.headers["content-type"] == "application/json"


def test_after_fuzzing_a_good_export_is_taken(receiver):
    for body in (b'{"\\ud800":1}', b'{"resourceSpans":[{"resource":{"attributes":[{}]}}]}'):
        http_post(receiver.http_port, "/v1/traces", body, **JSON)
    answer = http_post(
        receiver.http_port, "/v1/traces", otlp_json(traces("ok", [span("op")])), **JSON
    )
    assert answer.status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{receiver.http_port}/metrics").text
    assert 'exptrace_ingest_requests_refused_total{signal="traces",reason="malformed"} 1' in metrics
