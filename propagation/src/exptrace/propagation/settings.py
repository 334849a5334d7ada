"""Typed settings for the propagation layer, read from arguments or ``EXPTRACE_*`` variables."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import PurePath
from typing import Any, TypeVar

from exptrace.propagation import grammar
from exptrace.propagation.members import Limits

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
"""How a yes/no value may be written, case aside, in a variable, a flag or a query string;
empty is no."""


class SettingsError(ValueError):
    """An ``EXPTRACE_*`` variable holds a value of the wrong form."""


_ENV = "exptrace.env"
_FLAG = "exptrace.flag"
_JSON_ARRAY = "exptrace.json_array"


def setting(
    *, env: str | None = None, flag: str | None = None, json_array: bool = False
) -> dict[str, Any]:
    """Field metadata: the field is read from the variable ``env``, written out where the
    field is declared so that a search for the variable finds it, and set by ``flag``; a
    ``json_array`` field takes only a JSON array of strings (items hold commas). Use as
    ``name: T = field(default=..., metadata=setting(env="EXPTRACE_NAME", ...))``."""
    return {_ENV: env, _FLAG: flag, _JSON_ARRAY: json_array}


def variable(f: Field[Any]) -> str:
    """The environment variable that sets field ``f``: the one its :func:`setting` names."""
    name = f.metadata.get(_ENV)
    if not name:
        raise TypeError(f"settings field {f.name!r} names no variable: declare it with setting()")
    return name


def flag(f: Field[Any]) -> str | None:
    """The command-line flag that sets field ``f``, if any."""
    return f.metadata.get(_FLAG)


def invalid(settings: Any, name: str, problem: str) -> SettingsError:
    """An error for field ``name`` of ``settings``, naming how a user sets it:
    ``--flag / EXPTRACE_NAME <problem>`` (the variable alone for fields without a flag)."""
    f = next(f for f in fields(settings) if f.name == name)
    where = variable(f) if flag(f) is None else f"{flag(f)} / {variable(f)}"
    return SettingsError(f"{where} {problem}")


T = TypeVar("T")


def settings_from_env(
    cls: type[T],
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """An instance of the settings dataclass ``cls`` from the environment, then ``overrides``.

    Each field reads the variable its :func:`setting` names; the value is converted to the
    type of the field's default: bool, int, float, Path, tuple or frozenset (comma-separated,
    or a JSON array; only a JSON array for ``json_array`` fields), or str. A value of the wrong
    form raises :class:`SettingsError` naming the variable. ``environ`` (default
    ``os.environ``) is the only environment read: every field is passed to ``cls``.
    """
    env = os.environ if environ is None else environ
    values = {f.name: _default(f) for f in fields(cls)}  # type: ignore[arg-type]
    values.update(environment_values(cls, env))
    values.update(overrides or {})
    return cls(**values)


def environment_values(
    cls: type[Any], environ: Mapping[str, str], skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The fields of ``cls`` set in ``environ`` (all but ``skip``), converted."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = environ.get(variable(f))
        if raw is not None and f.name not in skip:
            values[f.name] = _convert(variable(f), raw, _default(f), f)
    return values


def arguments_win_over_environment(cls: type[T]) -> type[T]:
    """Make the settings dataclass ``cls`` read the environment when built in code: a field
    passed as an argument wins; every other field comes from its ``EXPTRACE_*`` variable when
    that is set, else its default. So ``PropagationSettings(cookie_name="exp")`` still obeys
    ``EXPTRACE_KNOWN_EXPERIMENTS``."""
    generated = cls.__init__
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = frozenset(names[: len(args)]) | frozenset(kwargs)
        generated(self, *args, **environment_values(cls, os.environ, given), **kwargs)

    __init__.__doc__ = generated.__doc__
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _default(f: Field[Any]) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


def _convert(name: str, raw: str, default: Any, f: Field[Any]) -> Any:
    text = raw.strip()
    kind = type(default)
    if default is None and "frozenset" in str(f.type):
        kind = frozenset
    if kind is bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise SettingsError(f"{name} must be {noun}, got {raw!r}") from None
    if kind in (tuple, frozenset, list):
        if text.startswith("[") or f.metadata.get(_JSON_ARRAY):
            try:
                items = json.loads(text)
            except ValueError:
                items = None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise SettingsError(f"{name} must be a JSON array of strings, got {raw!r}")
        else:
            items = [item.strip() for item in text.split(",") if item.strip()]
        return frozenset(items) if kind is frozenset else tuple(items)
    if isinstance(default, PurePath):
        return type(default)(text)
    return text or None


@arguments_win_over_environment
@dataclass(frozen=True)
class PropagationSettings:
    """How requests are read, what is kept, and what is written back.

    Every field can be set from the environment by the variable it declares, e.g.
    ``EXPTRACE_HEADER_NAME=x-exp`` or ``EXPTRACE_KNOWN_EXPERIMENTS=checkout-v2,search``; an argument
    passed in code wins over its variable, and the variables fill the rest.
    ``OTEL_SDK_DISABLED=true`` turns off the span, log and metric hooks (headers are still read
    and baggage is still set, so propagation downstream keeps working).
    """

    header_name: str = field(default="x-experiment", metadata=setting(env="EXPTRACE_HEADER_NAME"))
    """Edge request header holding ``id=variant`` members."""
    cookie_name: str | None = field(default=None, metadata=setting(env="EXPTRACE_COOKIE_NAME"))
    """Cookie holding ``id=variant`` members joined by ``&``; not read when unset."""
    known_experiments: frozenset[str] | None = field(
        default=None, metadata=setting(env="EXPTRACE_KNOWN_EXPERIMENTS")
    )
    """Allow-list of experiment IDs; when set, other IDs are dropped and counted."""
    max_experiments: int = field(default=10, metadata=setting(env="EXPTRACE_MAX_EXPERIMENTS"))
    max_token_length: int = field(
        default=grammar.TOKEN_DEFAULT_LENGTH, metadata=setting(env="EXPTRACE_MAX_TOKEN_LENGTH")
    )
    """Longest experiment id or variant accepted, at most ``grammar.TOKEN_MAX_LENGTH``."""
    max_header_bytes: int = field(default=4096, metadata=setting(env="EXPTRACE_MAX_HEADER_BYTES"))
    echo_header: bool = field(default=False, metadata=setting(env="EXPTRACE_ECHO_HEADER"))
    """Send the final assignments back in ``header_name`` on the response."""
    set_cookie: bool = field(default=False, metadata=setting(env="EXPTRACE_SET_COOKIE"))
    """Send the final assignments back as ``cookie_name`` so clients stay sticky."""
    cookie_max_age: int = field(
        default=30 * 24 * 3600, metadata=setting(env="EXPTRACE_COOKIE_MAX_AGE")
    )
    inject_header: bool = field(default=False, metadata=setting(env="EXPTRACE_INJECT_HEADER"))
    """Make the ``experiment`` propagator also write ``header_name`` on outbound requests."""
    record_metrics: bool = field(default=True, metadata=setting(env="EXPTRACE_RECORD_METRICS"))
    """Record per-cohort request count, error count and duration in the middleware."""
    sdk_disabled: bool = field(default=False, metadata=setting(env="OTEL_SDK_DISABLED"))

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
        return settings_from_env(cls, environ, overrides)

    def __post_init__(self) -> None:
        for name in ("max_experiments", "max_token_length", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise invalid(self, name, f"must be at least 1, got {getattr(self, name)}")
        if self.max_token_length > grammar.TOKEN_MAX_LENGTH:
            raise invalid(
                self,
                "max_token_length",
                f"must be at most {grammar.TOKEN_MAX_LENGTH}, got {self.max_token_length}",
            )
        if self.set_cookie and not self.cookie_name:
            raise invalid(self, "set_cookie", "needs a cookie name (EXPTRACE_COOKIE_NAME)")
        if self.known_experiments is not None and not isinstance(self.known_experiments, frozenset):
            object.__setattr__(self, "known_experiments", frozenset(self.known_experiments))
        object.__setattr__(self, "header_name", self.header_name.lower())
