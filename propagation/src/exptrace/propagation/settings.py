"""Typed settings for the propagation layer, read from arguments or ``EXPTRACE_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from exptrace.propagation.members import Limits

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An ``EXPTRACE_*`` variable holds a value of the wrong form."""


@dataclass(frozen=True)
class PropagationSettings:
    """How requests are read, what is kept, and what is written back.

    Every field can be set from the environment as ``EXPTRACE_<FIELD NAME IN CAPITALS>``,
    e.g. ``EXPTRACE_HEADER_NAME=x-exp`` or ``EXPTRACE_KNOWN_EXPERIMENTS=checkout-v2,search``.
    ``OTEL_SDK_DISABLED=true`` turns off the span, log and metric hooks (headers are still read
    and baggage is still set, so propagation downstream keeps working).
    """

    header_name: str = "x-experiment"
    """Edge request header holding ``id=variant`` members."""
    cookie_name: str | None = None
    """Cookie holding ``id=variant`` members joined by ``&``; not read when unset."""
    known_experiments: frozenset[str] | None = None
    """Allow-list of experiment IDs; when set, other IDs are dropped and counted."""
    max_experiments: int = 10
    max_token_length: int = 64
    max_header_bytes: int = 4096
    echo_header: bool = False
    """Send the final assignments back in ``header_name`` on the response."""
    set_cookie: bool = False
    """Send the final assignments back as ``cookie_name`` so clients stay sticky."""
    cookie_max_age: int = 30 * 24 * 3600
    inject_header: bool = False
    """Make the ``experiment`` propagator also write ``header_name`` on outbound requests."""
    record_metrics: bool = True
    """Record per-cohort request count, error count and duration in the middleware."""
    sdk_disabled: bool = False

    @property
    def limits(self) -> Limits:
        return Limits(
            max_experiments=self.max_experiments,
            max_token_length=self.max_token_length,
            max_header_bytes=self.max_header_bytes,
            known_experiments=self.known_experiments,
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> PropagationSettings:
        """Settings from ``EXPTRACE_*``/``OTEL_SDK_DISABLED``, then explicit ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "sdk_disabled":
                raw = env.get("OTEL_SDK_DISABLED")
                name = "OTEL_SDK_DISABLED"
            else:
                name = f"EXPTRACE_{f.name.upper()}"
                raw = env.get(name)
            if raw is not None:
                values[f.name] = _convert(name, raw, cls.__dataclass_fields__[f.name].default)
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings

    def __post_init__(self) -> None:
        for name in ("max_experiments", "max_token_length", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.set_cookie and not self.cookie_name:
            raise SettingsError("set_cookie needs cookie_name (EXPTRACE_COOKIE_NAME)")
        if self.known_experiments is not None and not isinstance(self.known_experiments, frozenset):
            object.__setattr__(self, "known_experiments", frozenset(self.known_experiments))
        object.__setattr__(self, "header_name", self.header_name.lower())


def _convert(name: str, raw: str, default: Any) -> Any:
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if name == "EXPTRACE_KNOWN_EXPERIMENTS":
        return frozenset(item.strip() for item in text.split(",") if item.strip())
    return text or None
