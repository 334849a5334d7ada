"""Parsing and validation of experiment assignments.

An assignment is one member ``<experiment-id>=<variant>``. Both sides are tokens of
:mod:`exptrace.propagation.grammar`. Anything else is dropped and counted by reason;
input is never logged, because headers and cookies can carry personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exptrace.propagation import grammar

BAGGAGE_PREFIX = grammar.PREFIX
"""Prefix of the W3C baggage keys (and span/log/metric attribute keys) that carry assignments."""

DROP_INVALID = "invalid"
DROP_UNKNOWN = "unknown"
DROP_LIMIT = "limit"
DROP_OVERSIZE = "oversize"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied to every assignment source."""

    max_experiments: int = 10
    max_token_length: int = grammar.TOKEN_DEFAULT_LENGTH
    max_header_bytes: int = 4096
    known_experiments: frozenset[str] | None = None

    def is_token(self, text: str) -> bool:
        """True when ``text`` is a non-empty token within the length cap."""
        return grammar.is_token(text, self.max_token_length)


@dataclass(slots=True)
class Collected:
    """Assignments gathered for one request, with counts of what was dropped by reason."""

    limits: Limits
    assignments: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def offer(self, experiment: str, variant: str) -> bool:
        """Add one assignment unless invalid, unknown, over the cap or already assigned.

        An experiment that is already assigned keeps its first variant: earlier sources
        take precedence. Returns True when the assignment was added.
        """
        limits = self.limits
        if not (limits.is_token(experiment) and limits.is_token(variant)):
            self.drop(DROP_INVALID)
            return False
        if experiment in self.assignments:
            return False
        if limits.known_experiments is not None and experiment not in limits.known_experiments:
            self.drop(DROP_UNKNOWN)
            return False
        if len(self.assignments) >= limits.max_experiments:
            self.drop(DROP_LIMIT)
            return False
        self.assignments[experiment] = variant
        return True

    def offer_all(self, assignments: Mapping[str, str]) -> None:
        for experiment, variant in assignments.items():
            self.offer(str(experiment), str(variant))

    def offer_members(self, header: str, *, separator: str = ",", baggage: bool = False) -> None:
        """Offer every member of a member list.

        With ``baggage=True`` the text is a W3C ``baggage`` header: only ``exp.``-prefixed keys
        are ours and other members are ignored. Otherwise (the ``x-experiment`` header or the
        cookie) every member is an assignment and the ``exp.`` prefix is optional.
        """
        if len(header) > self.limits.max_header_bytes:
            self.drop(DROP_OVERSIZE)
            return
        for member in header.split(separator):
            key, eq, value = member.partition(";")[0].partition("=")
            key = key.strip()
            if key.startswith(BAGGAGE_PREFIX):
                key = key[len(BAGGAGE_PREFIX) :]
            elif baggage:
                continue
            if not eq:
                if key or value.strip():
                    self.drop(DROP_INVALID)
                continue
            self.offer(key, value.strip())


def format_members(assignments: Mapping[str, str], separator: str = ",") -> str:
    """Render assignments in the ``x-experiment`` member grammar (``id=variant,...``)."""
    return separator.join(f"{experiment}={variant}" for experiment, variant in assignments.items())


def format_baggage(assignments: Mapping[str, str]) -> str:
    """Render assignments as W3C baggage members (``exp.id=variant,...``)."""
    return ",".join(
        f"{BAGGAGE_PREFIX}{experiment}={variant}" for experiment, variant in assignments.items()
    )


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` request header, if present."""
    for part in cookie_header.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip() == name:
            return value.strip().strip('"')
    return None
