"""The times a window may name: what the store's nanosecond timestamps (DateTime64(9)) hold.

Every window from a user (CLI flags, API and page parameters) is parsed here, so a time the
engine cannot represent is a clear 400 / exit 2 instead of an engine exception.
"""

from __future__ import annotations

import datetime as dt

from exptrace.query.core.answers import DEFAULT_LAST, Window
from exptrace.query.errors import WindowOutOfRange

EARLIEST = dt.datetime(1900, 1, 1)
LATEST = dt.datetime(2262, 4, 11, 22, 47, 16, 854775)
"""DateTime64(9)'s documented range, to the microsecond a window's text carries, less an hour
at its end: a window's requests are read with their traces' spans up to a trace horizon past
it (the engine's decimal arithmetic overflows beyond the range)."""
_RANGE = (
    f"times must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d %H:%M} UTC "
    "(what the store's nanosecond timestamps hold, less an hour for spans read past a window)"
)


def parse_window(
    start: str | dt.datetime | None = None,
    end: str | dt.datetime | None = None,
    last: dt.timedelta = DEFAULT_LAST,
) -> Window:
    """:meth:`Window.parse`, refusing a window that reaches outside the store's range."""
    try:
        window = Window.parse(start, end, last=last)
    except OverflowError:  # end - last before year 1
        raise WindowOutOfRange(f"the window reaches too far back: {_RANGE}") from None
    for moment in (window.start, window.end):
        if not EARLIEST <= _as_datetime(moment) <= LATEST:
            raise WindowOutOfRange(f"{_RANGE}; this window runs {window.start} to {window.end}")
    return window


def parse_moment(value: str | dt.datetime) -> str:
    """One moment (burn rates' ``at``) as the store's UTC text, refused when out of range."""
    try:
        moment = Window.parse(end=value).end
    except OverflowError:
        raise WindowOutOfRange(f"{_RANGE}; got {value}") from None
    if not EARLIEST <= _as_datetime(moment) <= LATEST:
        raise WindowOutOfRange(f"{_RANGE}; got {moment}")
    return moment


def _as_datetime(text: str) -> dt.datetime:
    # The window's text does not zero-pad years below 1000 on every platform.
    return dt.datetime.fromisoformat(text.rjust(len("0000-00-00 00:00:00.000000"), "0"))
