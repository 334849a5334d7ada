"""The shapes questions and answers take: a time ``Window``, one ``Page`` of a list and the
``Rows`` answered for it, and ``json_safe`` for JSON."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from exptrace.query.errors import BadInput

DEFAULT_LIMIT = 200
"""Rows a list-returning query answers unless asked for another page size."""
MAX_LIMIT = 10_000
"""The largest page a caller may ask for."""


DEFAULT_LAST = dt.timedelta(hours=1)
"""A window given by neither start nor length: the last hour."""


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` in UTC."""

    start: str
    end: str

    @classmethod
    def parse(
        cls,
        start: str | dt.datetime | None = None,
        end: str | dt.datetime | None = None,
        last: dt.timedelta = DEFAULT_LAST,
    ) -> Window:
        end_at = to_datetime(end) if end else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start_at = to_datetime(start) if start else end_at - last
        if start_at >= end_at:
            raise BadInput("the window's start must be before its end")
        return cls(sql_time(start_at), sql_time(end_at))

    def params(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class Page:
    """Which slice of a list to answer: ``limit`` rows from ``offset`` (0-based)."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise BadInput(f"limit must be a whole number, got {self.limit!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int):
            raise BadInput(f"offset must be a whole number, got {self.offset!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadInput(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if self.offset < 0:
            raise BadInput(f"offset must be 0 or more, got {self.offset}")

    @classmethod
    def parse(cls, limit: str | None, offset: str | None) -> Page:
        """From query parameters (absent: the defaults); a bad value is a ValueError."""

        def whole(name: str, text: str | None, default: int) -> int:
            if text is None or not text.strip():
                return default
            try:
                return int(text)
            except ValueError:
                raise BadInput(f"{name} must be a whole number, got {text!r}") from None

        return cls(whole("limit", limit, DEFAULT_LIMIT), whole("offset", offset, 0))

    def params(self) -> dict[str, int]:
        return {"limit": self.limit, "offset": self.offset}

    def cut(self, items: list[Any]) -> Rows:
        """This page of a list computed whole."""
        return Rows(items[self.offset : self.offset + self.limit], len(items), self)


class Rows(list):
    """One page of a longer list: the rows, plus how many there are in all (``total``)."""

    def __init__(self, rows: list[Any], total: int, page: Page) -> None:
        super().__init__(rows)
        self.total = total
        self.page = page

    @property
    def truncated(self) -> bool:
        """True when rows exist beyond this page (before or after it)."""
        return len(self) < self.total

    def overflow(self) -> dict[str, Any]:
        """The page's place in the whole list, for JSON answers."""
        return {
            "total": self.total,
            "shown": len(self),
            "limit": self.page.limit,
            "offset": self.page.offset,
            "truncated": self.truncated,
        }

    def headers(self) -> dict[str, str]:
        """The same, as HTTP headers beside a bare JSON list."""
        return {
            "X-Total-Count": str(self.total),
            "X-Limit": str(self.page.limit),
            "X-Offset": str(self.page.offset),
        }


def to_datetime(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"not a date and time: {value!r} (use ISO 8601)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def sql_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def json_safe(value: Any) -> Any:
    """JSON-safe: no NaN or infinities."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, Rows):
        return Rows([json_safe(v) for v in value], value.total, value.page)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
