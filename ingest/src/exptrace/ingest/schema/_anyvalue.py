"""The text form of an OTLP ``AnyValue``, as the Collector's ClickHouse exporter stores it.

Scalars become their text (strings as sent, booleans ``true``/``false``, bytes base64); arrays
and key-value lists become JSON at every level of nesting. ``AnyValue`` is recursive, which
the engine's ``Protobuf`` format cannot map onto a fixed column type, so the landing tables
keep a nested array or list as its raw protobuf bytes and :func:`nested_json` decodes them in
the engine. A list of scalars (or a key-value list of them: nearly every nested attribute)
is converted element-wise, with a fold step per element that carries only positions; any
other list is walked by an ``arrayFold`` with an explicit stack, a byte or a field per step.
A value that is not nested takes no step.

Redaction happens here too, where the structure is still known: masks apply to string
leaves only (so numbers are never masked and JSON stays valid), and a nested key named like
a secret header (``cookie``, ``authorization``...) has its value replaced.
"""

from __future__ import annotations

from collections.abc import Callable

from exptrace.ingest.store import array_literal, literal

REDACTED = "<redacted>"

# Stack frames of the decoder: what the bytes between here and the frame's end hold.
_ARRAY = 1  # ArrayValue: repeated AnyValue values = 1
_KVLIST = 2  # KeyValueList: repeated KeyValue values = 1
_KEYVALUE = 3  # KeyValue: string key = 1, AnyValue value = 2
_VALUE = 4  # AnyValue: the oneof, fields 1-7


def double_json(expr: str) -> str:
    """A Float64 as a JSON value (non-finite values as the strings protobuf JSON uses)."""
    text = f"toString({expr})"
    return (
        f"if(isFinite({expr}), if(match({text}, '[.e]'), {text}, concat({text}, '.0')), "
        f"if(isNaN({expr}), '\"NaN\"', if({expr} > 0, '\"Infinity\"', '\"-Infinity\"')))"
    )


def nested_json(
    data: str, root: str, mask: Callable[[str], str], secret_keys: tuple[str, ...]
) -> str:
    """JSON text of the serialized ``ArrayValue`` (``root`` 1) or ``KeyValueList`` (``root``
    2) in ``data``; ``mask(expr)`` redacts a string leaf, ``secret_keys`` (lower case) name
    keys whose values are replaced whatever they hold.

    A list whose elements are all scalars (:func:`_flat_json`) is converted all its
    elements at once; any other list walks the general decoder (:func:`_folded_json`),
    which the flat ones skip by handing it empty data. One-element maps bind each
    intermediate result once, which keeps the expression small for the engine to analyse.
    """
    n = f"length({data})"
    size, size_length = _small_varint(data, "acc[-1] + 1")
    following = (
        f"if(reinterpretAsUInt8(substring({data}, acc[-1], 1)) = 10 AND {size_length} > 0, "
        f"acc[-1] + 1 + {size_length} + {size}, {n} + 2)"
    )
    # Where each element starts: a fold step per element, carrying only the positions. An
    # element starts with the byte 10, so there are no more elements than such bytes.
    starts = (
        f"arrayFold((acc, i) -> if(acc[-1] > {n}, acc, arrayPushBack(acc, toUInt64({following}))), "
        f"range(countSubstrings({data}, '\\n')), [toUInt64(1)])"
    )
    # Each element's payload (its own bytes: the layers below never copy the whole data).
    size, size_length = _small_varint(data, "p + 1")
    elements = f"arrayMap(p -> substring({data}, p + 1 + {size_length}, {size}), arrayPopBack(st))"
    flat = _flat_json(root, f"st[-1] = {n} + 1", mask, secret_keys)
    general = _folded_json(f"if(r.1, '', {data})", root, mask, secret_keys)
    converted = f"arrayMap(st -> arrayMap(elements -> {flat}, [{elements}])[1], [{starts}])[1]"
    return f"arrayMap(r -> if(r.1, r.2, {general}), [{converted}])[1]"


def _small_varint(data: str, at: str) -> tuple[str, str]:
    """(value, length) of a varint of at most 3 bytes at 1-based ``at``; length 0 if longer.

    Lengths inside a nested value are far below the 2 MiB that 3 bytes hold."""
    b = [f"reinterpretAsUInt8(substring({data}, {at} + {k}, 1))" for k in range(3)]
    length = f"multiIf({b[0]} < 128, 1, {b[1]} < 128, 2, {b[2]} < 128, 3, 0)"
    value = (
        f"toUInt64(bitAnd({b[0]}, 127) + bitShiftLeft(toUInt64(bitAnd({b[1]}, 127)), 7) * "
        f"({b[0]} >= 128) + bitShiftLeft(toUInt64(bitAnd({b[2]}, 127)), 14) * "
        f"({b[0]} >= 128 AND {b[1]} >= 128))"
    )
    return value, length


def _scalars(values: str, mask: Callable[[str], str]) -> str:
    """``(is a lone scalar, JSON text)`` of each serialized ``AnyValue`` in the string array
    ``values``, as the general decoder writes it.

    Empty is ``null``; a string, bytes, bool, int or double field that fills its value
    exactly is its JSON; anything else (a nested list, an unknown or repeated field) is not
    a lone scalar and sends the whole list to the general decoder.
    """
    size, size_length = _small_varint("v", "2")
    # u: (value, tag, payload size, size length, the bytes after the tag, up to 10)
    parts = (
        f"arrayMap(v -> (v, reinterpretAsUInt8(substring(v, 1, 1)), {size}, {size_length}, "
        f"arrayMap(c -> reinterpretAsUInt8(c), splitByString('', substring(v, 2, 10)))), "
        f"{values})"
    )
    varint_ok = (
        "length(u.1) BETWEEN 2 AND 11 AND "
        "arrayAll((b, k) -> (b >= 128) = (k < length(u.5)), u.5, arrayEnumerate(u.5))"
    )
    number = (
        "arraySum(arrayMap((b, k) -> bitShiftLeft(toUInt64(bitAnd(b, 127)), 7 * (k - 1)), "
        "u.5, arrayEnumerate(u.5)))"
    )
    payload = "substring(u.1, 2 + u.4, u.3)"
    ok = (
        "toUInt8(multiIf(u.1 = '', 1, u.2 IN (10, 58), u.4 > 0 AND 1 + u.4 + u.3 = length(u.1), "
        f"u.2 IN (16, 24), {varint_ok}, u.2 = 33, length(u.1) = 9, 0))"
    )
    text = (
        f"multiIf(u.1 = '', 'null', u.2 = 10, toJSONString({mask(payload)}), "
        f"u.2 = 58, toJSONString(base64Encode({payload})), "
        f"u.2 = 16, if({number} != 0, 'true', 'false'), "
        f"u.2 = 24, toString(reinterpretAsInt64({number})), "
        f"{double_json('reinterpretAsFloat64(substring(u.1, 2, 8))')})"
    )
    return f"arrayMap(u -> ({ok}, {text}), {parts})"


def _flat_json(
    root: str, tiled: str, mask: Callable[[str], str], secret_keys: tuple[str, ...]
) -> str:
    """``(is flat, JSON text)`` of the list whose elements' payloads are ``elements``.

    The list is flat when ``tiled`` (its elements cover the data exactly) and each element
    is a lone scalar (:func:`_scalars`) or, in a key-value list, a key followed by a lone
    scalar or by nothing, or a secret key (whose value is replaced whatever it holds).
    Every element is converted by the same expression at once: a few operations per element
    and per byte, and no step per byte.
    """
    key_size, key_size_length = _small_varint("e", "2")
    # k: (pair, has a key, key size, key size length)
    keyed = (
        f"arrayMap(e -> (e, reinterpretAsUInt8(substring(e, 1, 1)) = 10 AND "
        f"{key_size_length} > 0 AND 1 + {key_size_length} + {key_size} <= length(e), "
        f"{key_size}, {key_size_length}), elements)"
    )
    key = "substring(k.1, 2 + k.4, k.3)"
    secret = f"k.2 AND has({array_literal(secret_keys)}, lower({key}))" if secret_keys else "0"
    # h: (what follows the key, key JSON, secret)
    after_key = (
        f"arrayMap(k -> (substring(k.1, if(k.2, 2 + k.4 + k.3, 1)), "
        f"if(k.2, toJSONString({key}), '\"\"'), {secret}), {keyed})"
    )
    value_size, value_size_length = _small_varint("h.1", "2")
    # q: (what follows the key, key JSON, secret, a lone value field follows, its payload);
    # an array's element is a pair's value without a key.
    pairs = (
        f"if({root} = {_ARRAY}, arrayMap(e -> ('-', '', 0, 1, e), elements), "
        f"arrayMap(h -> (h.1, h.2, h.3, reinterpretAsUInt8(substring(h.1, 1, 1)) = 18 AND "
        f"{value_size_length} > 0 AND 1 + {value_size_length} + {value_size} = length(h.1), "
        f"substring(h.1, 2 + {value_size_length}, {value_size})), {after_key}))"
    )
    # t: (is a lone scalar, JSON text) of each value
    scalars = _scalars("arrayMap(q -> if(q.4 AND NOT q.3, q.5, ''), qs)", mask)
    flat = (
        f"toUInt8({tiled} AND "
        "arrayAll((q, t) -> multiIf(q.3, 1, q.1 = '', 1, q.4, t.1, 0), qs, ts))"
    )
    pair = (
        f"concat(q.2, ':', multiIf(q.3, {literal(chr(34) + REDACTED + chr(34))}, "
        "q.1 = '', 'null', t.2))"
    )
    text = (
        f"if({root} = {_ARRAY}, concat('[', arrayStringConcat(arrayMap(t -> t.2, ts), ','), ']'), "
        f"concat('{{', arrayStringConcat(arrayMap((q, t) -> {pair}, qs, ts), ','), '}}'))"
    )
    return f"arrayMap(qs -> arrayMap(ts -> ({flat}, {text}), [{scalars}])[1], [{pairs}])[1]"


def _folded_json(
    data: str, root: str, mask: Callable[[str], str], secret_keys: tuple[str, ...]
) -> str:
    """JSON text of any serialized list, walked byte by byte (see :func:`nested_json`).

    The state is (position, output, stack of frame ends, frame kinds, per-frame counts,
    phase, field, wire type, number, payload start, shift). Varints are read one byte per
    step (phase 0: the tag, phase 1: a value or length), then the field is acted on (phase
    2); every step is a small expression, which keeps the views quick to analyse. The
    root frame is closed after the fold, so empty data (every value that is not nested
    passes some) takes no step at all.
    """
    pos, out, ends, frames, counts = "s.1", "s.2", "s.3", "s.4", "s.5"
    phase, field, wire, number, start, shift = "s.6", "s.7", "s.8", "s.9", "s.10", "s.11"
    end, frame, count = f"{ends}[-1]", f"{frames}[-1]", f"{counts}[-1]"
    byte = f"reinterpretAsUInt8(substring({data}, {pos}, 1))"
    accumulated = f"bitOr({number}, bitShiftLeft(toUInt64(bitAnd({byte}, 127)), {shift}))"
    last_byte = f"{byte} < 128"
    stop = f"({start} + {number})"
    payload = f"substring({data}, {start}, {number})"
    secret = f"has({array_literal(secret_keys)}, lower({payload}))" if secret_keys else "0"
    known_scalar = (
        f"({field} IN (1, 7) AND {wire} = 2 OR {field} IN (2, 3) AND {wire} = 0 "
        f"OR {field} = 4 AND {wire} = 1)"
    )
    scalar = (
        f"multiIf({field} = 1 AND {wire} = 2, toJSONString({mask(payload)}), "
        f"{field} = 2 AND {wire} = 0, if({number} != 0, 'true', 'false'), "
        f"{field} = 3 AND {wire} = 0, toString(reinterpretAsInt64({number})), "
        f"{field} = 4 AND {wire} = 1, "
        f"{double_json(f'reinterpretAsFloat64(substring({data}, {pos}, 8))')}, "
        f"{field} = 7 AND {wire} = 2, toJSONString(base64Encode({payload})), '')"
    )
    skip = (
        f"multiIf({wire} = 0, {pos}, {wire} = 1, {pos} + 8, {wire} = 2, {stop}, "
        f"{wire} = 5, {pos} + 4, {end})"
    )

    def act(new_pos: str, new_out: str, new_ends: str, new_frames: str, new_counts: str) -> str:
        return (
            f"(toUInt64({new_pos}), {new_out}, {new_ends}, {new_frames}, {new_counts}, "
            "toUInt8(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0))"
        )

    def set_count(value: str) -> str:
        return f"arrayPushBack(arrayPopBack({counts}), toUInt32({value}))"

    def push(child: str, new_count: str) -> tuple[str, str, str]:
        return (
            f"arrayPushBack({ends}, toUInt64({stop}))",
            f"arrayPushBack({frames}, toUInt8({child}))",
            f"arrayPushBack({set_count(new_count)}, toUInt32(0))",
        )

    closing = (
        f"multiIf({frame} = {_ARRAY}, ']', {frame} = {_KVLIST}, '}}', "
        f"{frame} = {_KEYVALUE}, multiIf(bitAnd({count}, 2) > 0, '', "
        f"bitAnd({count}, 1) > 0, 'null', '\"\":null'), "
        f"{frame} = {_VALUE} AND {count} = 0, 'null', '')"
    )
    close = act(
        pos,
        f"concat({out}, {closing})",
        f"arrayPopBack({ends})",
        f"arrayPopBack({frames})",
        f"arrayPopBack({counts})",
    )
    tag_done = f"bitAnd({accumulated}, 7)"
    tag = (
        f"({pos} + 1, {out}, {ends}, {frames}, {counts}, "
        f"toUInt8(if({last_byte}, if({tag_done} IN (0, 2), 1, 2), 0)), "
        f"if({last_byte}, bitShiftRight({accumulated}, 3), {field}), "
        f"if({last_byte}, {tag_done}, {wire}), "
        f"if({last_byte}, toUInt64(0), {accumulated}), {start}, "
        f"if({last_byte}, toUInt64(0), {shift} + 7))"
    )
    value_or_length = (
        f"({pos} + 1, {out}, {ends}, {frames}, {counts}, toUInt8(if({last_byte}, 2, 1)), "
        f"{field}, {wire}, {accumulated}, toUInt64({pos} + 1), "
        f"if({last_byte}, toUInt64(0), {shift} + 7))"
    )
    element = act(
        start,
        f"concat({out}, if({count} > 0, ',', ''))",
        *push(f"if({frame} = {_ARRAY}, {_VALUE}, {_KEYVALUE})", f"{count} + 1"),
    )
    key = act(
        f"if({secret}, {end}, {stop})",
        f"concat({out}, toJSONString({payload}), ':', "
        f"if({secret}, {literal(chr(34) + REDACTED + chr(34))}, ''))",
        ends,
        frames,
        set_count(f"bitOr({count}, if({secret}, 3, 1))"),
    )
    value = act(
        start,
        f"concat({out}, if(bitAnd({count}, 1) = 0, '\"\":', ''))",
        *push(str(_VALUE), f"bitOr({count}, 3)"),
    )
    container = act(
        start,
        f"concat({out}, if({field} = 5, '[', '{{'))",
        *push(f"if({field} = 5, {_ARRAY}, {_KVLIST})", "1"),
    )
    leaf = act(
        skip, f"concat({out}, {scalar})", ends, frames, set_count(f"if({known_scalar}, 1, 0)")
    )
    passed = act(skip, out, ends, frames, counts)
    step = (
        f"multiIf({phase} = 0 AND length({ends}) = 1 AND {pos} >= {end}, s, "
        f"{phase} = 0 AND {shift} = 0 AND {pos} >= {end}, {close}, "
        f"{phase} = 0, {tag}, "
        f"{phase} = 1, {value_or_length}, "
        f"{frame} IN ({_ARRAY}, {_KVLIST}) AND {field} = 1 AND {wire} = 2, {element}, "
        f"{frame} = {_KEYVALUE} AND {field} = 1 AND {wire} = 2, {key}, "
        f"{frame} = {_KEYVALUE} AND {field} = 2 AND {wire} = 2, {value}, "
        f"{frame} = {_VALUE} AND {count} = 0 AND {field} IN (5, 6) AND {wire} = 2, {container}, "
        f"{frame} = {_VALUE} AND {count} = 0, {leaf}, {passed})"
    )
    initial = (
        f"(toUInt64(1), if({root} = {_ARRAY}, '[', '{{'), [toUInt64(length({data}) + 1)], "
        f"[toUInt8({root})], [toUInt32(0)], toUInt8(0), toUInt64(0), toUInt64(0), "
        "toUInt64(0), toUInt64(0), toUInt64(0))"
    )
    folded = f"arrayFold((s, i) -> {step}, range(3 * length({data})), {initial}).2"
    return f"concat({folded}, if({root} = {_ARRAY}, ']', '}}'))"


def any_value_text(v: str, mask: Callable[[str], str], nested: Callable[[str, str], str]) -> str:
    """Text of the landing ``AnyValue`` tuple ``v``: strings through ``mask``, arrays and
    key-value lists through ``nested(bytes, root)`` (root 1: array, 2: key-value list).
    One decoder call serves both, which halves the expression the engine analyses."""
    is_array = f"{v}.value = 'array_value'"
    data = f"if({is_array}, {v}.array_value, {v}.kvlist_value)"
    root = f"if({is_array}, {_ARRAY}, {_KVLIST})"
    return (
        f"multiIf({v}.value = 'string_value', {mask(f'{v}.string_value')}, "
        f"{v}.value = 'int_value', toString({v}.int_value), "
        f"{v}.value = 'double_value', toString({v}.double_value), "
        f"{v}.value = 'bool_value', if({v}.bool_value, 'true', 'false'), "
        f"{v}.value = 'bytes_value', base64Encode({v}.bytes_value), "
        f"{v}.value IN ('array_value', 'kvlist_value'), {nested(data, root)}, '')"
    )
