"""An OTLP/JSON document cut down to the fields its message types know, ids made base64.

Receivers must ignore fields they do not know (the OTLP specification). Protobuf's JSON
parser does, but only after walking every one of them in Python, as did the walk that turns
hex ids into base64: a 13 MiB export of 1.15 million unknown keys and no span cost 0.5 s of
interpreter time there, on top of ``json.loads``. Here an object with more keys than its
message type has names is read through those names, never through its own keys, so unknown
keys cost nothing past ``json.loads``; a smaller object is read key by key.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
"""OTLP/JSON encodes these as hex; protobuf's JSON mapping wants base64."""


@cache
def _names(descriptor: Descriptor) -> dict[str, Descriptor | bool | None]:
    """Each JSON name (and proto name) of the type's fields: the message type to read its
    value as, True for a hex id, None for a value kept as it is (maps included)."""
    names: dict[str, Descriptor | bool | None] = {}
    for field in descriptor.fields:
        kind: Descriptor | bool | None = None
        message = field.message_type
        if message is not None and not message.GetOptions().map_entry:
            kind = message
        elif field.type == FieldDescriptor.TYPE_BYTES and field.json_name in _ID_KEYS:
            kind = True
        names[field.json_name] = names[field.name] = kind
    return names


def known_fields(node: Any, descriptor: Descriptor) -> Any:
    """``node`` with hex ids in base64, recursively, and, where it has more keys than its
    type has names, only the keys its type knows (the parser ignores the few others).

    Objects are changed in place. Anything that is not an object where one is expected is
    left for the parser to refuse. Raises ValueError for an id that is not hex."""
    if not isinstance(node, dict):
        return node
    names = _names(descriptor)
    if len(node) > len(names):
        node = {key: node[key] for key in names if key in node}
    for key, value in node.items():
        kind = names.get(key)
        if kind is None:
            continue
        if kind is True:
            if isinstance(value, str):
                node[key] = _base64(key, value)
        elif isinstance(value, list):
            node[key] = [known_fields(item, kind) for item in value]
        else:
            node[key] = known_fields(value, kind)
    return node


def _base64(key: str, value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise ValueError(f"{key} is not hex: {value[:64]!r}") from None
