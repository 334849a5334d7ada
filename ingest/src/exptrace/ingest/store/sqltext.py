"""Small helpers for the SQL text exptrace itself writes (DDL, views); never for user input.

User-supplied values always travel as bound query parameters. Operator configuration that has
to live inside DDL (redaction patterns, retention) goes through :func:`literal`, which quotes
any string so that the engine reads back exactly that string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def literal(value: str) -> str:
    """A ClickHouse string literal for ``value``."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return f"'{escaped}'"


def array_literal(values: Iterable[str]) -> str:
    """A ClickHouse ``Array(String)`` literal."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def identifier(name: str) -> str:
    """``name`` if it is a plain identifier (table, database, cluster); raises otherwise."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
