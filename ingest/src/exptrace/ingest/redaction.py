"""Redaction rules applied by the engine at ingest, before anything is stored."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exptrace.ingest.sqltext import array_literal, literal

REDACTED = "<redacted>"

DEFAULT_MASKS = (
    # e-mail addresses
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    # payment card numbers: 13 to 19 digits, optionally grouped by spaces or dashes
    r"\b(?:\d[ -]?){12,18}\d\b",
    # bearer tokens in headers or messages
    r"(?i)bearer\s+[A-Za-z0-9._~+/-]+=*",
)
DEFAULT_DROP_KEYS = (
    "http.request.header.authorization",
    "http.request.header.cookie",
    "http.response.header.set-cookie",
)


@dataclass(frozen=True)
class Redaction:
    """What to drop, hash and mask in attributes, status messages and log bodies.

    ``drop_keys`` are removed; values of ``hash_keys`` become the hex SHA-256 of the value;
    every match of a ``masks`` pattern (RE2 syntax, as the engine uses) becomes
    ``<redacted>``. Keys in ``hash_keys`` are hashed before masking would apply.
    """

    drop_keys: tuple[str, ...] = DEFAULT_DROP_KEYS
    hash_keys: tuple[str, ...] = ()
    masks: tuple[str, ...] = field(default=DEFAULT_MASKS)

    def __post_init__(self) -> None:
        for pattern in self.masks:
            try:
                re.compile(pattern.removeprefix("(?i)"))
            except re.error as error:
                raise ValueError(f"redaction pattern {pattern!r} is invalid: {error}") from None

    def text(self, expr: str) -> str:
        """``expr`` with every mask match replaced."""
        if not self.masks:
            return expr
        combined = "|".join(
            f"(?:{p})" if not p.startswith("(?i)") else f"(?i:{p[4:]})" for p in self.masks
        )
        return f"replaceRegexpAll({expr}, {literal(combined)}, {literal(REDACTED)})"

    def attributes(self, kv_array: str) -> str:
        """A ``Map(String, String)`` from an OTLP attribute array, redacted."""
        from exptrace.ingest.schema import any_value

        keys = f"{kv_array}.key"
        values = f"arrayMap(x -> {any_value('x.value')}, {kv_array})"
        result = f"mapFromArrays({keys}, {values})"
        if self.drop_keys:
            result = f"mapFilter((k, v) -> NOT has({array_literal(self.drop_keys)}, k), {result})"
        hashed = array_literal(self.hash_keys) if self.hash_keys else None
        if hashed and self.masks:
            value = f"if(has({hashed}, k), lower(hex(SHA256(v))), {self.text('v')})"
        elif hashed:
            value = f"if(has({hashed}, k), lower(hex(SHA256(v))), v)"
        elif self.masks:
            value = self.text("v")
        else:
            return result
        return f"mapApply((k, v) -> (k, {value}), {result})"
