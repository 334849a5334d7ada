"""Assignment hooks: give a request a variant for experiments it is not yet in."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from exptrace.propagation import grammar
from exptrace.propagation.members import cookie_value

PUBLIC_UNIT_SALT = b"exptrace.unit"


@dataclass(frozen=True, slots=True)
class RequestView:
    """What an assignment hook may look at: lower-cased header names and their values."""

    headers: Mapping[str, str]

    def cookie(self, name: str) -> str | None:
        header = self.headers.get("cookie")
        return cookie_value(header, name) if header else None


class Assigner(Protocol):
    """Called once per request with what is already assigned; returns new assignments."""

    def __call__(self, request: RequestView, assigned: Mapping[str, str]) -> Mapping[str, str]: ...


class RevisingAssigner(Assigner, Protocol):
    """An assigner that may also change what a request already carries (from baggage, the
    edge header or the cookie): the registry-backed assigner moves rolled-back variants to
    control and drops ended experiments."""

    def revise(self, assigned: Mapping[str, str]) -> Mapping[str, str]:
        """The assignments the request keeps, given all it has."""
        ...


class HashAssigner:
    """Deterministic weighted assignment by hashing a unit id (user, session, device...).

    The same unit always gets the same variant of an experiment, experiments hash
    independently of each other, and the split follows the weights. A request without a unit
    id is left unassigned rather than given a variant it could not keep.

    The unit travels as the baggage member and span attribute ``exptrace.unit``: a keyed
    BLAKE2b hash of the id under ``unit_key``, never the id. Give every service the same
    secret key so the hash cannot be reversed by guessing ids; without one a fixed public
    salt is used (pseudonymous, but ids that can be guessed can be confirmed).

    >>> assigner = HashAssigner({"checkout-v2": {"control": 50, "B": 50}}, unit_header="x-user-id")
    """

    def __init__(
        self,
        experiments: Mapping[str, Mapping[str, float]],
        *,
        unit_header: str | None = None,
        unit_cookie: str | None = None,
        unit_key: str | bytes | None = None,
    ) -> None:
        if not unit_header and not unit_cookie:
            raise ValueError("HashAssigner needs unit_header or unit_cookie to identify a unit")
        self._plans: list[tuple[str, list[tuple[float, str]]]] = []
        for experiment, weights in experiments.items():
            total = float(sum(weights.values()))
            if not weights or total <= 0 or any(w < 0 for w in weights.values()):
                raise ValueError(f"experiment {experiment!r} needs positive variant weights")
            names = [experiment, *weights]
            if not all(grammar.is_token(name) for name in names):
                raise ValueError(f"experiment {experiment!r}: ids and variants must be tokens")
            bounds, cumulative = [], 0.0
            for variant, weight in weights.items():
                cumulative += weight / total
                bounds.append((cumulative, variant))
            self._plans.append((experiment, bounds))
        self._unit_header = unit_header.lower() if unit_header else None
        self._unit_cookie = unit_cookie
        key = unit_key.encode() if isinstance(unit_key, str) else unit_key
        self._unit_key = key or PUBLIC_UNIT_SALT

    def unit(self, request: RequestView) -> str | None:
        """The unit id of a request, from the configured header or cookie."""
        if self._unit_header and (value := request.headers.get(self._unit_header)):
            return value
        if self._unit_cookie:
            return request.cookie(self._unit_cookie)
        return None

    def unit_token(self, request: RequestView) -> str | None:
        """The keyed hash of the request's unit id (32 hex digits), or None without one."""
        unit = self.unit(request)
        if not unit:
            return None
        return hashlib.blake2b(unit.encode(), key=self._unit_key, digest_size=16).hexdigest()

    def variant(self, experiment: str, unit: str) -> str:
        """The variant of ``experiment`` for ``unit``; raises KeyError for an unknown experiment."""
        for name, bounds in self._plans:
            if name == experiment:
                return _pick(bounds, _fraction(experiment, unit))
        raise KeyError(experiment)

    def __call__(self, request: RequestView, assigned: Mapping[str, str]) -> Mapping[str, str]:
        unit = self.unit(request)
        if not unit:
            return {}
        return {
            experiment: _pick(bounds, _fraction(experiment, unit))
            for experiment, bounds in self._plans
            if experiment not in assigned
        }


def _fraction(experiment: str, unit: str) -> float:
    digest = hashlib.blake2b(f"{experiment}\x00{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _pick(bounds: list[tuple[float, str]], fraction: float) -> str:
    for bound, variant in bounds:
        if fraction < bound:
            return variant
    return bounds[-1][1]
