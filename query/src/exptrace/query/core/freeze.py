"""The freeze log: while experiments are frozen (during an incident) none may start.

Append-only: every freeze and unfreeze is a row with who, when and why; the state is the
latest row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exptrace.ingest import Store


@dataclass(frozen=True)
class Freeze:
    """The freeze state: the latest freeze or unfreeze (``at`` None: never frozen)."""

    frozen: bool = False
    at: str | None = None
    actor: str = ""
    reason: str = ""

    def describe(self) -> str:
        """``experiments are frozen since <at> by <actor>: <reason>``."""
        return f"experiments are frozen since {self.at} by {self.actor}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"frozen": self.frozen, "at": self.at, "actor": self.actor, "reason": self.reason}


class FreezeLog:
    """Read and append the freeze log (``exptrace_freezes``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def current(self) -> Freeze:
        """The freeze state now."""
        entries = self.entries(limit=1)
        return entries[0] if entries else Freeze()

    def entries(self, limit: int = 100) -> list[Freeze]:
        """The latest ``limit`` freezes and unfreezes, newest first."""
        rows = self.store.query(
            "SELECT frozen, toString(at), actor, reason FROM exptrace_freezes "
            "ORDER BY at DESC LIMIT {limit:UInt32}",
            {"limit": limit},
        ).rows
        return [Freeze(bool(frozen), at, actor, reason) for frozen, at, actor, reason in rows]

    def append(self, frozen: bool, actor: str, reason: str, at: str) -> Freeze:
        self.store.command(
            "INSERT INTO exptrace_freezes (at, actor, frozen, reason) VALUES "
            "({at:DateTime64(3)}, {actor:String}, {frozen:Bool}, {reason:String})",
            {"at": at, "actor": actor, "frozen": frozen, "reason": reason},
        )
        return Freeze(frozen, at, actor, reason)
