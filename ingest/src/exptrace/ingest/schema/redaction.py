"""Redaction rules applied by the engine at ingest, before anything is stored.

Rules name what to remove; anything they do not name is stored byte for byte. Masks apply to
text people read (span names, status messages, string log bodies, string attribute values and
the string leaves of nested values), never to numbers, so a 13-19 digit id or timestamp is
kept and a JSON body stays valid JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exptrace.ingest.schema._anyvalue import REDACTED, any_value_text, nested_json
from exptrace.ingest.store import array_literal, literal

DEFAULT_MASKS = (
    # e-mail addresses
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    # bearer tokens in headers or messages
    r"(?i)bearer\s+[A-Za-z0-9._~+/-]+=*",
)
DEFAULT_DROP_KEYS = (
    "http.request.header.authorization",
    "http.request.header.proxy-authorization",
    "http.request.header.cookie",
    "http.response.header.set-cookie",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
)
DETECTORS = ("card-number", "basic-auth")
"""Built-in rules that need more than a pattern: card numbers (digit runs that pass the Luhn
check within issuer ranges) and ``Basic`` credentials (base64 of ``user:password``)."""

# 13 to 19 digits, optionally grouped by single spaces or dashes, not inside a longer run.
_CARD_CANDIDATE = r"\b(?:\d[ -]?){12,18}\d\b"
# Issuer ranges: Visa, Mastercard (51-55, 2221-2720), American Express, Discover, JCB,
# Diners Club, UnionPay, Maestro.
_CARD_ISSUERS = (
    r"^(?:4\d{12}(?:\d{3}){0,2}"
    r"|5[1-5]\d{14}"
    r"|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"
    r"|3[47]\d{13}"
    r"|6(?:011|5\d\d|4[4-9]\d)\d{12,15}"
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"
    r"|3(?:0[0-5]|[689]\d)\d{11,16}"
    r"|62\d{14,17}"
    r"|(?:5018|5020|5038|6304|6759|676[1-3])\d{8,15})$"
)
_BASIC_CANDIDATE = r"(?i)\bbasic\s+[A-Za-z0-9+/]{4,}={0,2}"
_BASIC_SCHEME = r"(?i)^basic\s+"


@dataclass(frozen=True)
class Redaction:
    """What to drop, hash and mask in attributes, span names, status messages and log bodies.

    ``drop_keys`` are removed (matched case-insensitively; a nested key matching one of them,
    or its last dotted part such as ``cookie``, has its value replaced); values of
    ``hash_keys`` become the hex SHA-256 of the value; every match of a ``masks`` pattern
    (RE2 syntax, as the engine uses) in a string becomes ``<redacted>``, and so do the
    :data:`DETECTORS` named in ``detectors``.
    """

    drop_keys: tuple[str, ...] = DEFAULT_DROP_KEYS
    hash_keys: tuple[str, ...] = ()
    masks: tuple[str, ...] = field(default=DEFAULT_MASKS)
    detectors: tuple[str, ...] = DETECTORS

    def __post_init__(self) -> None:
        # Masks are RE2, checked by the engine itself when a receiver starts
        # (exptrace.ingest.server.check_masks): Python's re differs from RE2 both ways.
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown redaction detectors: {', '.join(sorted(unknown))}")

    def fingerprint(self) -> dict[str, list[str]]:
        """The rules as plain data, for recording with the store."""
        return {
            "drop_keys": sorted({k.lower() for k in self.drop_keys}),
            "hash_keys": sorted({k.lower() for k in self.hash_keys}),
            "masks": list(self.masks),
            "detectors": sorted(self.detectors),
        }

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """Lower-case keys whose nested values are replaced: drop keys and their last part."""
        keys = {k.lower() for k in self.drop_keys}
        return tuple(sorted(keys | {k.rsplit(".", 1)[-1] for k in keys}))

    def mask(self, expr: str) -> str:
        """The string ``expr`` with every mask and detector match replaced (inline SQL).

        One combined pattern decides first whether any rule could apply; most strings pass
        that single scan and are returned as they are. Every step is linear in the length of
        the string: a pattern scan, or one pass over its candidates (:func:`_replace_matches`).
        """
        triggers = list(self.masks)
        out = expr
        if self.masks:
            out = f"replaceRegexpAll({out}, {literal(_combine(self.masks))}, {literal(REDACTED)})"
        if "basic-auth" in self.detectors:
            triggers.append(_BASIC_CANDIDATE)
            credential = f"replaceRegexpOne(c, {literal(_BASIC_SCHEME)}, '')"
            out = _replace_matches(
                out,
                _BASIC_CANDIDATE,
                f"if(position(tryBase64Decode({credential}), ':') > 0, "
                f"concat(substring(c, 1, length(c) - length({credential})), {literal(REDACTED)}), "
                "c)",
            )
        if "card-number" in self.detectors:
            triggers.append(_CARD_CANDIDATE)
            digits = "replaceRegexpAll(c, '[^0-9]', '')"
            out = _replace_matches(
                out,
                _CARD_CANDIDATE,
                f"if(match({digits}, {literal(_CARD_ISSUERS)}) AND {_luhn(digits)}, "
                f"{literal(REDACTED)}, c)",
            )
        if not triggers:
            return expr
        return f"if(match({expr}, {literal(_combine(triggers))}), {out}, {expr})"

    def sql(self, prefix: str) -> RedactionSql:
        """The rules as SQL, through functions named ``<prefix>_*``."""
        return RedactionSql(self, prefix)


@dataclass(frozen=True)
class RedactionSql:
    """SQL for one rule set. The heavy parts (masks, the nested-value decoder) are SQL
    functions created once (:meth:`functions`); the engine expands them into each view."""

    rules: Redaction
    prefix: str

    def functions(self) -> list[tuple[str, str]]:
        """(name, ``CREATE OR REPLACE FUNCTION`` body) of each function the views call."""
        return [
            (f"{self.prefix}_redact", f"(text) -> {self.rules.mask('text')}"),
            (
                f"{self.prefix}_json",
                f"(data, root) -> {nested_json('data', 'root', self.text, self.rules.secret_keys)}",
            ),
        ]

    def text(self, expr: str) -> str:
        """The string ``expr``, redacted."""
        return f"{self.prefix}_redact({expr})"

    def nested(self, data: str, root: str) -> str:
        """JSON of a serialized nested value (root 1: array, 2: key-value list), redacted."""
        return f"{self.prefix}_json({data}, {root})"

    def texts(self, kv_array: str) -> str:
        """The redacted text of every value in an OTLP attribute array, in order.

        A view converts all the attribute arrays of a row in one call (concatenated) and
        slices the result with :meth:`attributes`: the nested-value decoder then appears
        once per view, which keeps each insert's analysis short, and runs only for rows
        that hold a nested value.
        """
        nested = f"arrayExists(x -> x.value.value IN ('array_value', 'kvlist_value'), {kv_array})"
        flat = self._value(lambda data, root: "''")
        return (
            f"if({nested}, arrayMap(x -> {self._value(self.nested)}, {kv_array}), "
            f"arrayMap(x -> {flat}, {kv_array}))"
        )

    def _value(self, nested: Callable[[str, str], str]) -> str:
        """The redacted text of attribute ``x``'s value, nested values through ``nested``."""
        value = any_value_text("x.value", self.text, nested)
        if self.rules.hash_keys:
            hashed = array_literal(sorted({k.lower() for k in self.rules.hash_keys}))
            plain = any_value_text("x.value", lambda e: e, nested)
            value = f"if(has({hashed}, lower(x.key)), lower(hex(SHA256({plain}))), {value})"
        return value

    def attributes(self, kv_array: str, texts: str, offset: str, length: str) -> str:
        """A ``Map(String, String)`` of ``length`` attributes from 1-based ``offset`` of the
        concatenated array and its :meth:`texts`, without the dropped keys."""
        keys = f"arrayMap(x -> x.key, arraySlice({kv_array}, {offset}, {length}))"
        result = f"mapFromArrays({keys}, arraySlice({texts}, {offset}, {length}))"
        if self.rules.drop_keys:
            dropped = array_literal(sorted({k.lower() for k in self.rules.drop_keys}))
            result = f"mapFilter((k, v) -> NOT has({dropped}, lower(k)), {result})"
        return result


def _combine(patterns: list[str] | tuple[str, ...]) -> str:
    """One RE2 pattern matching where any of ``patterns`` matches (``(?i)`` kept per part)."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in patterns)


def _replace_matches(text: str, pattern: str, replacement: str) -> str:
    """``text`` with each match ``c`` of ``pattern`` replaced by ``replacement`` (SQL of ``c``).

    The text between matches (``splitByRegexp``) and the matches (``extractAll``) are zipped
    and joined in one pass, so the cost is linear in the text however many matches it holds.
    (Replacing each match in the whole text in turn costs text length times matches: a
    2 MiB string of distinct card numbers took minutes.) ``pattern`` never matches the empty
    string, so both functions find the same matches.
    """
    pieces = f"splitByRegexp({literal(pattern)}, {text})"
    matches = f"arrayPushBack(extractAll({text}, {literal(pattern)}), '')"
    return (
        f"arrayStringConcat(arrayMap((p, c) -> concat(p, if(c = '', '', {replacement})), "
        f"{pieces}, {matches}))"
    )


def _luhn(digits: str) -> str:
    """True when the digit string passes the Luhn check."""
    values = (
        f"arrayMap(i -> toUInt8(reinterpretAsUInt8(substring(reverse({digits}), i + 1, 1)) - 48), "
        f"range(length({digits})))"
    )
    doubled = "arrayMap((d, i) -> if(i % 2 = 1, if(d * 2 > 9, d * 2 - 9, d * 2), d), " + (
        f"{values}, range(length({digits})))"
    )
    return f"arraySum({doubled}) % 10 = 0"
