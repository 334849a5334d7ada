"""The table of query operations is the one definition the HTTP API, both clients and the CLI
read: what a client sends for an operation is what the API parses back, defaults included."""

from __future__ import annotations

import urllib.parse

import pytest

from exptrace.query.cli.commands import make_parser
from exptrace.query.core.operations import OPERATIONS
from exptrace.query.errors import BadInput

SAMPLES = {
    "id": "checkout/v2",
    "start": "2026-11-26 14:00:00.000000",
    "end": "2026-11-26 15:00:00.000000",
    "experiment": "checkout-v2",
    "by_service": True,
    "by_route": False,
    "bucket_seconds": 60,
    "threshold": 0.9,
    "service": "search",
    "route": "/cart",
    "unregistered": True,
    "exact": True,
    "at": "2026-11-26 15:00:00.000000",
    "limit": 20,
    "offset": 40,
}


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_what_a_client_sends_the_api_parses_back(op):
    given = {p.name: SAMPLES[p.name] for p in op.params}
    path, query = op.to_http(given, lambda s: urllib.parse.quote(s, safe=""))
    template = op.path.split("{")[0]
    assert path.startswith(template)
    segments = {
        p.http_name: urllib.parse.unquote(path[len(template) :]) for p in op.params if p.in_path
    }
    assert op.from_http({k: str(v) for k, v in query.items()}, segments) == given
    assert op.from_http({}, segments) == {**op.arguments({}), **segments}


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.help], ids=lambda op: op.name)
def test_every_described_operation_is_a_cli_command(op):
    positional = ["x"] if any(p.in_path for p in op.params) else []
    assert make_parser().parse_args([op.name, *positional]).operation is op


def test_a_bad_value_is_bad_input_naming_the_parameter():
    seen = next(op for op in OPERATIONS if op.name == "seen")
    with pytest.raises(BadInput, match="unregistered must be true or false"):
        seen.from_http({"unregistered": "perhaps"}, {})
    with pytest.raises(BadInput, match="limit must be between 1 and"):
        seen.from_http({"limit": "0"}, {})
