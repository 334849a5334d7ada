"""What is stored is what was sent, except what redaction rules name: through the real
receiver and engine, reading the stored rows back."""

from __future__ import annotations

import base64
import json
import re
import uuid

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from exptrace.ingest.schema.redaction import (
    _BASIC_CANDIDATE,
    _CARD_CANDIDATE,
    _CARD_ISSUERS,
    DEFAULT_MASKS,
    Redaction,
)
from exptrace.ingest.settings import IngestSettings
from tests.ingest import door
from tests.ingest.helpers import query
from tests.ingest.otlp import logs, post, span, traces

NESTED = {
    "user": {"id": 7, "tags": ["a", {"deep": [1, [2, [3, {"x": True, "y": 2.5}]]]}]},
    "n": [1, [2, 3]],
    "msg": 'nested é "quoted" /path\ttab',
    "empty": {},
    "none": [],
}


def stored_span(server, name: str) -> dict:
    rows = query(
        server,
        "SELECT SpanName, SpanAttributes, StatusMessage, HttpRoute, HttpStatusCode "
        "FROM otel_traces WHERE ServiceName = {s:String}",
        {"s": name},
    )
    assert len(rows) == 1, rows
    keys = ("SpanName", "SpanAttributes", "StatusMessage", "HttpRoute", "HttpStatusCode")
    return dict(zip(keys, rows[0], strict=True))


def test_nested_values_are_kept_as_json_at_every_level(receiver):
    """A structured log body and nested attributes come back whole, as the Collector's
    exporter stores them (JSON text), instead of nulls below the first level."""
    post(receiver, "logs", logs("nested-logs", [NESTED], {"ctx": {"a": [1, {"b": "c"}]}}))
    post(receiver, "traces", traces("nested-spans", [span("op", {"payload": NESTED})]))
    body, attrs = query(
        receiver, "SELECT Body, LogAttributes FROM otel_logs WHERE ServiceName = 'nested-logs'"
    )[0]
    assert json.loads(body) == NESTED
    assert json.loads(attrs["ctx"]) == {"a": [1, {"b": "c"}]}
    stored = stored_span(receiver, "nested-spans")
    assert json.loads(stored["SpanAttributes"]["payload"]) == NESTED


def test_ordinary_numbers_and_ids_are_not_masked(receiver):
    """Timestamps, 64-bit ids and int attributes that happen to pass the Luhn check are data,
    not card numbers; a JSON body with such numbers stays valid JSON, unchanged."""
    body = {"epoch_ms": 1700000000000, "id": 4111111111111111, "note": "id 9007199254740993"}
    post(
        receiver,
        "logs",
        logs("numbers", [body, "epoch_ms=1700000000000 order=18446744073709551615"]),
    )
    attrs = {
        "epoch_ms": 1700000000000,
        "luhn_int": 4111111111111111,
        "trace_id64": "12345678901234567",
        "text": "epoch_ms=1700000000000",
    }
    post(receiver, "traces", traces("numbers", [span("op", attrs)]))
    bodies = [
        r[0]
        for r in query(
            receiver, "SELECT Body FROM otel_logs WHERE ServiceName = 'numbers' ORDER BY Timestamp"
        )
    ]
    assert json.loads(bodies[0]) == body
    assert bodies[1] == "epoch_ms=1700000000000 order=18446744073709551615"
    assert stored_span(receiver, "numbers")["SpanAttributes"] == {
        "epoch_ms": "1700000000000",
        "luhn_int": "4111111111111111",
        "trace_id64": "12345678901234567",
        "text": "epoch_ms=1700000000000",
    }


def test_secrets_are_removed_wherever_people_read_text(receiver):
    """Header keys in any case and bare, Basic credentials, cookies inside nested values,
    card numbers in strings and e-mail addresses in span names never reach storage."""
    basic = base64.b64encode(b"alice:s3cret").decode()
    attrs = {
        "http.request.header.Authorization": "Bearer abc.def",
        "authorization": "Basic " + basic,
        "Cookie": "sid=42",
        "http.request.headers": {"Cookie": "sid=42", "Accept": "text/html"},
        "raw": f"Authorization: Basic {basic}",
        "card": "paid with 4111 1111 1111 1111 today",
        "amex": "378282246310005",
        "plain": "basic plan for everyone",
    }
    post(
        receiver,
        "traces",
        traces(
            "secrets",
            [span("GET /users/carol@example.com", attrs, status=2, message="for dave@example.org")],
        ),
    )
    post(
        receiver,
        "logs",
        logs("secrets", [{"headers": {"cookie": "sid=42", "x": 1}, "user": "erin@example.com"}]),
    )
    stored = stored_span(receiver, "secrets")
    assert stored["SpanName"] == "GET /users/<redacted>"
    assert stored["StatusMessage"] == "for <redacted>"
    assert stored["SpanAttributes"] == {
        "http.request.headers": '{"Cookie":"<redacted>","Accept":"text\\/html"}',
        "raw": "Authorization: Basic <redacted>",
        "card": "paid with <redacted> today",
        "amex": "<redacted>",
        "plain": "basic plan for everyone",
    }
    body = query(receiver, "SELECT Body FROM otel_logs WHERE ServiceName = 'secrets'")[0][0]
    assert json.loads(body) == {"headers": {"cookie": "<redacted>", "x": 1}, "user": "<redacted>"}


def test_http_route_and_status_fill_columns_and_count_as_errors(receiver):
    """A span with status Unset but HTTP 503 (current conventions) or 502 (older ones) is
    an error for the query layer, and its route is what ``--route`` finds."""
    spans = [
        span("POST", {"http.route": "/pay", "http.response.status_code": 503, "exp.pay": "B"}),
        span("POST", {"http.route": "/pay", "http.status_code": 502, "exp.pay": "B"}),
        span("POST", {"http.route": "/pay", "http.response.status_code": 200, "exp.pay": "B"}),
    ]
    post(receiver, "traces", traces("http-svc", spans))
    rows = query(
        receiver,
        "SELECT HttpRoute, HttpStatusCode FROM otel_traces WHERE ServiceName = 'http-svc' "
        "ORDER BY HttpStatusCode",
    )
    assert rows == [["/pay", 200], ["/pay", 502], ["/pay", 503]]
    from exptrace.query import Queries, Window

    slis = Queries(receiver.store).cohort_slis(Window.parse(), "pay", by_route=True)
    assert [(r["route"], r["requests"], r["errors"]) for r in slis] == [("/pay", 3, 2)]


# -- property: a value no rule matches is stored byte for byte -----------------------------

_RULES = Redaction()
_MASKS = [(p.removeprefix("(?i)"), re.I if p.startswith("(?i)") else 0) for p in DEFAULT_MASKS]
_SECRET_KEYS = set(_RULES.secret_keys) | {k.lower() for k in _RULES.drop_keys}


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _rule_matches(text: str) -> bool:
    """Could any default rule touch ``text``? Checked in Python, conservatively (both the
    ASCII classes RE2 uses and Python's Unicode ones)."""
    for flags in (re.ASCII, 0):
        if any(re.search(pattern, text, mask | flags) for pattern, mask in _MASKS):
            return True
        for candidate in re.findall(_CARD_CANDIDATE, text, flags):
            digits = re.sub(r"[^0-9]", "", candidate)
            if re.match(_CARD_ISSUERS, digits) and _luhn(digits):
                return True
        for credential in re.findall(_BASIC_CANDIDATE.removeprefix("(?i)"), text, re.I | flags):
            try:
                decoded = base64.b64decode(credential + "==")
            except ValueError:
                decoded = b""
            if b":" in decoded:
                return True
    return False


def _touched(value) -> bool:
    if isinstance(value, str):
        return _rule_matches(value)
    if isinstance(value, list):
        return any(_touched(v) for v in value)
    if isinstance(value, dict):
        return any(k.lower() in _SECRET_KEYS or _touched(v) for k, v in value.items())
    return False


_LEAVES = (
    st.text(max_size=40)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _expected_text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return None  # floats and nested values are compared by value below


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_VALUES, min_size=1, max_size=8))
def test_values_no_rule_matches_are_stored_exactly(receiver, values):
    """Any attribute value (text, integers, floats, booleans, arrays and maps nested at any
    depth) that no redaction rule names comes back exactly as sent."""
    assume(not any(_touched(v) for v in values))
    service = f"prop-{uuid.uuid4().hex}"
    post(
        receiver,
        "traces",
        traces(service, [span("op", {f"v{i}": v for i, v in enumerate(values)})]),
    )
    stored = stored_span(receiver, service)["SpanAttributes"]
    assert len(stored) == len(values)
    for i, value in enumerate(values):
        text = stored[f"v{i}"]
        expected = _expected_text(value)
        if expected is not None:
            assert text == expected
        elif isinstance(value, float):
            assert float(text) == value
        else:
            assert json.loads(text) == value


def test_an_re2_mask_with_a_comma_masks_what_it_names(make_receiver):
    """A JSON array is the only form: a pattern keeps its commas, and RE2 syntax Python's re
    lacks (``\\p{Lu}``) is taken; what it names is masked, the rest stored as sent."""
    variable = '["\\\\p{Lu}{3}-\\\\d{2,4}"]'
    masks = IngestSettings.from_env({"EXPTRACE_REDACT_MASKS": variable}).redact_masks
    assert masks == ("\\p{Lu}{3}-\\d{2,4}",)
    server = make_receiver(redact_masks=masks)
    attributes = [
        KeyValue(key="order", value=AnyValue(string_value="ref ABC-1234 ok")),
        KeyValue(key="kept", value=AnyValue(string_value="abc-12 mail@example.com")),
    ]
    request = door.traces("masks", [door.span("op", attributes=attributes)])
    assert (
        door.http_post(server.http_port, "/v1/traces", request.SerializeToString()).status_code
        == 200
    )
    assert query(
        server, "SELECT SpanAttributes['order'], SpanAttributes['kept'] FROM otel_traces"
    ) == [
        ["ref <redacted> ok", "abc-12 mail@example.com"]  # the default masks were replaced
    ]
