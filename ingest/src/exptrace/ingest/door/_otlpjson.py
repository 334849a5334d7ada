"""OTLP/JSON to protobuf bytes: a pure function of the body, so it may run in another
process (a large body's ``json.loads`` holds the interpreter lock for its whole duration:
about a second for 13 MiB, during which no other thread of the receiver runs)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from exptrace.ingest.door._jsonfields import known_fields
from exptrace.ingest.errors import NotOtlpJson

JsonConverter = Callable[[type[Message], bytes], bytes]
"""What turns an OTLP/JSON body into protobuf bytes of a request type."""


def to_protobuf(request_type: type[Message], body: bytes) -> bytes:
    """``body`` (OTLP/JSON) as ``request_type``'s protobuf encoding; raises NotOtlpJson.

    Unknown fields are ignored, as the OTLP specification requires; trace and span ids are
    read as hex."""
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError(f"the body is a JSON {type(document).__name__}, not an object")
        if _SURROGATE_ESCAPE.search(body):
            _refuse_lone_surrogates(document)
        known = known_fields(document, request_type.DESCRIPTOR)
        return _parse_dict(known, request_type()).SerializeToString()
    except RecursionError:
        raise NotOtlpJson("not a valid OTLP/JSON request: nested too deeply") from None
    except (ValueError, TypeError, json_format.ParseError) as error:
        raise NotOtlpJson(f"not a valid OTLP/JSON request: {error}") from None


def _parse_dict(document: dict, message: Any) -> Any:
    """``json_format.ParseDict``, whose upb backend raises more than ``ParseError`` on some
    input (a ``SystemError`` for a key it cannot look up): whatever it raises, the request
    is what it could not take."""
    try:
        return json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError):
        raise
    except Exception as error:
        raise json_format.ParseError(f"{type(error).__name__}: {error}") from None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: only then can a decoded string hold a lone one."""


def _refuse_lone_surrogates(node: Any) -> None:
    """Raise ValueError for a key or string holding a lone surrogate (not text: JSON allows
    the escape, UTF-8 and protobuf do not)."""
    if isinstance(node, str):
        try:
            node.encode()
        except UnicodeEncodeError as error:
            where = node[max(0, error.start - 20) : error.start].encode()
            raise ValueError(f"a lone UTF-16 surrogate (after {where!r})") from None
    elif isinstance(node, dict):
        for key, value in node.items():
            _refuse_lone_surrogates(key)
            _refuse_lone_surrogates(value)
    elif isinstance(node, list):
        for item in node:
            _refuse_lone_surrogates(item)
