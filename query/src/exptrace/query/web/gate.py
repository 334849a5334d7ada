"""What other web pages cannot do to the API and the pages, with or without a token.

A browser lets any page send a ``text/plain`` POST or a ``<form enctype=text/plain>`` to
loopback without asking first, and DNS rebinding lets a page read answers under a host name
its owner controls. So: the Host header must name this server (an address it listens on,
``localhost`` on loopback, or a configured name); a state-changing request not carrying the
bearer token must not come from another origin; the API's writes take only
``application/json``; and failed authentication is rate-limited per client address.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from exptrace.ingest import LOOPBACK_HOSTS, WILDCARD_HOSTS, FailureLimit
from exptrace.query.errors import QueryError

_LOOPBACK_NAMES = {"localhost"}


class Refused(QueryError):
    """A request the gate turns away; ``status`` and ``headers`` say how."""

    status = 403

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})


class UnknownHost(Refused):
    """The Host header names no address or name of this server (DNS rebinding)."""


class CrossOrigin(Refused):
    """A state-changing request from another site's page."""


class NotJson(Refused):
    status = 415


class Unauthenticated(Refused):
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "missing or wrong bearer token: the exptrace command takes it as --token or "
            "EXPTRACE_TOKEN; other clients send the header Authorization: Bearer <token>",
            {"WWW-Authenticate": "Bearer"},
        )


class TooManyFailures(Refused):
    status = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "too many failed attempts from this address: try again later",
            {"Retry-After": str(max(1, math.ceil(retry_after)))},
        )


def _host_of(header: str) -> str:
    """The host of a Host header value, without port or IPv6 brackets, in lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK_NAMES or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


@dataclass(frozen=True)
class Hosts:
    """The names a Host header may carry: ``listen`` is the host the server listens on."""

    listen: str = LOOPBACK_HOSTS[0]
    names: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, listen: str, names: Iterable[str] = ()) -> Hosts:
        return cls(listen.strip("[]").lower(), frozenset(n.strip().lower() for n in names))

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0: no browser sends a request without one
        host = _host_of(header)
        if host in self.names or host == self.listen:
            return True
        if self.listen in WILDCARD_HOSTS:
            return _is_ip(host) or host in _LOOPBACK_NAMES
        return _is_loopback(self.listen) and _is_loopback(host)


LOOPBACK = Hosts()
"""A server listening on 127.0.0.1 with no other names."""


@dataclass
class Gate:
    """The checks every API call and page goes through; ``authorized`` is the bearer check."""

    authorized: Callable[[Request], bool]
    hosts: Hosts = LOOPBACK
    failures: FailureLimit = field(default_factory=FailureLimit)

    @property
    def token_required(self) -> bool:
        return not self.authorized(Request({"type": "http", "headers": []}))

    def check_host(self, request: Request) -> None:
        host = request.headers.get("host")
        if not self.hosts.allows(host):
            raise UnknownHost(
                f"this server does not answer to the host {host[:100]!r}: add the name to "
                "--allowed-hosts / EXPTRACE_ALLOWED_HOSTS if it is its own"
            )

    def check_limit(self, request: Request) -> None:
        """Refuse a client that failed authentication too often of late."""
        wait = self.failures.wait(_client(request))
        if wait > 0:
            raise TooManyFailures(wait)

    def failed(self, request: Request) -> None:
        self.failures.failed(_client(request))

    def check_api(self, request: Request) -> None:
        """Host, then the bearer token (rate-limited), then for a write: origin and JSON."""
        self.check_host(request)
        if self.token_required:
            self.check_limit(request)
            if not self.authorized(request):
                self.failed(request)
                raise Unauthenticated()
        if request.method in ("GET", "HEAD"):
            return
        if not self.token_required:
            check_origin(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise NotJson("the API takes only Content-Type: application/json")


def check_origin(request: Request) -> None:
    """Refuse a request a page of another origin sent (browsers send ``Origin`` with every
    cross-origin POST; other clients send none)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
        raise CrossOrigin(f"a request from another site ({origin[:100]}) cannot change anything")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""
