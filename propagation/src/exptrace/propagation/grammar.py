"""The assignment grammar, written once: propagation, the ingest SQL and the query layer use it.

An assignment is the W3C baggage member ``exp.<experiment-id>=<variant>`` (and the attribute of
the same key on spans, log records and metric points). Experiment ids and variants are tokens:
1 to :data:`TOKEN_MAX_LENGTH` letters, digits, ``.``, ``_`` or ``-``. The middleware may be
configured with a lower cap (``EXPTRACE_MAX_TOKEN_LENGTH``); everything downstream of it
(span and log processors, ingest, the registry) accepts any token up to the ceiling, so no
assignment the middleware accepted is dropped further on.
"""

from __future__ import annotations

import re

PREFIX = "exp."
"""Prefix of the baggage keys and attribute keys that carry assignments."""

TOKEN_MAX_LENGTH = 255
"""The longest experiment id or variant anything in exptrace accepts."""

TOKEN_DEFAULT_LENGTH = 64
"""The middleware's default cap on token length (``EXPTRACE_MAX_TOKEN_LENGTH``)."""

TOKEN_CHARACTERS = "A-Za-z0-9._-"  # noqa: S105 (a character class, not a secret)
"""The token character class, in the syntax Python's ``re`` and the engine's RE2 share."""

TOKEN_PATTERN = f"^[{TOKEN_CHARACTERS}]{{1,{TOKEN_MAX_LENGTH}}}$"
"""A whole token, anchored; usable as is in ClickHouse ``match()``."""

_TOKEN = re.compile(f"[{TOKEN_CHARACTERS}]+")


def is_token(text: str, max_length: int = TOKEN_MAX_LENGTH) -> bool:
    """True when ``text`` is a non-empty token of at most ``max_length`` characters."""
    return len(text) <= max_length and _TOKEN.fullmatch(text) is not None


def describe(max_length: int = TOKEN_MAX_LENGTH) -> str:
    """The grammar in words, for error messages."""
    return f"1-{max_length} letters, digits, '.', '_' or '-'"
