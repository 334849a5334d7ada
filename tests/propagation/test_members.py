"""Header, baggage and cookie parsing: bounded, validated, never raising, never logging input."""

import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from exptrace.propagation.members import (
    DROP_INVALID,
    DROP_LIMIT,
    DROP_OVERSIZE,
    DROP_UNKNOWN,
    Collected,
    Limits,
    cookie_value,
    format_baggage,
    format_members,
)

TOKEN = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=20)


def collect(header: str, limits: Limits | None = None, **kw) -> Collected:
    collected = Collected(limits or Limits())
    collected.offer_members(header, **kw)
    return collected


def test_edge_header_members_with_optional_prefix_and_properties():
    got = collect(" checkout-v2=B , exp.search=ctrl;ttl=3,ranker=v1.2_rc-1")
    assert got.assignments == {"checkout-v2": "B", "search": "ctrl", "ranker": "v1.2_rc-1"}
    assert got.dropped == {}


def test_baggage_header_keeps_only_exp_members():
    got = collect("userId=alice,exp.checkout-v2=B,sessionId=42", baggage=True)
    assert got.assignments == {"checkout-v2": "B"}
    assert got.dropped == {}


def test_invalid_members_are_dropped_and_counted_by_reason():
    got = collect("ok=A,bad id=B,c=<script>,=x,noequals,d=" + "v" * 65)
    assert got.assignments == {"ok": "A"}
    assert got.dropped == {DROP_INVALID: 5}


def test_first_source_wins_for_a_repeated_experiment():
    assert collect("a=1,a=2").assignments == {"a": "1"}


def test_allow_list_drops_unknown_ids():
    limits = Limits(known_experiments=frozenset({"checkout-v2"}))
    got = collect("checkout-v2=B,typo-exp=A", limits)
    assert got.assignments == {"checkout-v2": "B"}
    assert got.dropped == {DROP_UNKNOWN: 1}


def test_experiment_cap_drops_the_rest():
    got = collect(",".join(f"e{i}=v" for i in range(15)), Limits(max_experiments=3))
    assert list(got.assignments) == ["e0", "e1", "e2"]
    assert got.dropped == {DROP_LIMIT: 12}


def test_oversized_header_is_dropped_whole():
    got = collect("a=b," * 2000, Limits(max_header_bytes=4096))
    assert got.assignments == {}
    assert got.dropped == {DROP_OVERSIZE: 1}


def test_cookie_lookup_and_round_trip():
    header = 'session=xyz; exp="checkout-v2=B&search=ctrl"; other=1'
    value = cookie_value(header, "exp")
    assert value == "checkout-v2=B&search=ctrl"
    assert collect(value, separator="&").assignments == {"checkout-v2": "B", "search": "ctrl"}
    assert cookie_value(header, "missing") is None


def test_formatting_matches_the_wire_format():
    assert format_members({"a": "1", "b": "2"}) == "a=1,b=2"
    assert format_baggage({"a": "1"}) == "exp.a=1"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600), st.booleans(), st.sampled_from([",", "&"]))
def test_any_input_never_raises_and_stays_within_caps(header, baggage, separator):
    limits = Limits(max_experiments=4, max_token_length=16, max_header_bytes=512)
    got = collect(header, limits, baggage=baggage, separator=separator)
    assert len(got.assignments) <= 4
    for key, value in got.assignments.items():
        assert limits.is_token(key) and limits.is_token(value)
    assert all(count > 0 for count in got.dropped.values())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(TOKEN, TOKEN, max_size=8))
def test_valid_members_round_trip(assignments):
    assert collect(format_members(assignments)).assignments == assignments
    assert collect(format_baggage(assignments), baggage=True).assignments == assignments


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="latin-1"), min_size=8, max_size=200))
def test_parsing_never_logs_its_input(header):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    root = logging.getLogger()
    handler, level = Keep(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        collect("secret-marker=" + header + ",bad value=alice@example.com")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not any("alice@example.com" in r.getMessage() for r in records)
    assert not any("secret-marker" in r.getMessage() for r in records)
