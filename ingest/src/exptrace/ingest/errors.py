"""Every exception the receiver raises on purpose, under one base: :class:`IngestError`.

Each class says what went wrong in the receiver's own terms (the store refused, the log is
full, a body cannot be read); how a client is answered (HTTP status, gRPC code) is decided
by the door (:mod:`exptrace.ingest.door`), never carried here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type only: every layer imports errors, errors imports none
    from exptrace.ingest.log import Ticket


class IngestError(Exception):
    """Something the receiver could not do; the subclasses say what."""


class CannotListen(IngestError, OSError):
    """An endpoint the receiver was told to listen on is taken or not allowed."""


# The store ---------------------------------------------------------------------------------

# ClickHouse error codes that mean "this data can never be inserted", as opposed to the
# store being unavailable, full or overloaded (worth retrying). 36 is what the Protobuf
# reader raises for a oneof carrying two values; 321 a value out of its type's range.
DATA_ERROR_CODES = frozenset(
    {
        6,
        26,
        27,
        32,
        33,
        36,
        38,
        41,
        53,
        69,
        70,
        72,
        117,
        131,
        190,
        321,
        434,
        435,
        436,
        437,
        438,
        439,
        440,
        441,
        442,
        443,
        444,
        445,
        446,
        447,
        448,
        449,
        450,
        451,
        452,
        453,
    }
)
_CODE = re.compile(r"Code:\s*(\d+)")


class StoreError(IngestError):
    """The store refused or failed an operation."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def is_data_error(self) -> bool:
        """True when retrying the same data cannot succeed (it is malformed for the store)."""
        return self.code in DATA_ERROR_CODES

    @classmethod
    def from_exception(cls, error: BaseException) -> StoreError:
        text = str(error)
        match = _CODE.search(text)
        code = int(match.group(1)) if match else getattr(error, "code", None)
        return cls(text, code)


class StoreBusy(StoreError):
    """The embedded store directory is owned by another process."""


class StoreUnavailable(StoreError):
    """The store has not been reached (and set up) yet: retry later."""


class SchemaError(StoreError):
    """The store's schema cannot be used as it is (missing, newer, or set up differently)."""


class SettingsConflict(SchemaError):
    """The store was set up with other settings than this process has."""

    def __init__(self, differences: dict[str, tuple[Any, Any]]) -> None:
        self.differences = differences
        listed = "; ".join(
            f"{name}: store has {stored!r}, this process {wanted!r}"
            for name, (stored, wanted) in differences.items()
        )
        super().__init__(
            f"the store was set up with other settings ({listed}). Start with the store's "
            "settings, or change them on purpose with EXPTRACE_CHANGE_STORE_SETTINGS=true "
            "(every receiver on this store must then use the new settings)"
        )


# The write-ahead log ---------------------------------------------------------------------


class WalError(IngestError):
    """The log could not take or keep a record."""


class WalFull(WalError):
    """The log reached its size bound; clients should retry later."""


class WalPending(WalError):
    """The record is in the log but was not synced in time: it may still be stored."""

    def __init__(self, message: str, ticket: Ticket) -> None:
        super().__init__(message)
        self.ticket = ticket


class WalBusy(WalError):
    """Another process owns the log directory."""


# The door: requests that are not taken ---------------------------------------------------


class Refused(IngestError):
    """An export that was not acknowledged; ``retryable`` says whether the client may retry."""

    def __init__(self, reason: str, message: str, *, retryable: bool, retry_after: float = 0):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class TooManyFailures(IngestError):
    """A client address that failed too often of late; it may retry after ``retry_after``
    seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed attempts from this address: try again later")
        self.retry_after = retry_after


class Unauthenticated(IngestError):
    """No bearer token, or the wrong one."""


class Busy(IngestError):
    """Every worker of a lane is busy and its queue is full: try again later."""


class BodyError(IngestError):
    """A request body that cannot be taken; ``reason`` names the refusal in the counters."""

    reason = "malformed"


class Corrupt(BodyError):
    """Not a valid stream in the encoding it claims."""


class TooLarge(BodyError):
    """Over the request size bound, on the wire or inflated."""

    reason = "too_large"


class TooManyMembers(BodyError):
    """More concatenated gzip members or zstd frames than the encodings allow (``MAX_MEMBERS``)."""

    reason = "too_many_members"


class UnsupportedEncoding(BodyError):
    """A ``Content-Encoding`` the receiver does not read."""

    reason = "unsupported_encoding"


class NotOtlpJson(IngestError, ValueError):
    """The body is not an OTLP/JSON request of the type asked for."""
