"""An assigner that follows the registry: starts, stops and rollbacks reach traffic.

A background thread polls the exptrace server's ``GET /api/v1/assignments`` every
``poll_seconds`` (with ``If-None-Match``, over the standard library's HTTP client); a request
only reads the last copy fetched, never waits for the network. When a poll fails the last good
copy stays in force. Before the first successful poll the assigner assigns nothing and leaves
what requests carry as it is: the service then runs exactly as it would without an assigner,
rather than guess at weights the registry may since have changed or rolled back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exptrace.propagation import grammar
from exptrace.propagation.assign import HashAssigner, RequestView
from exptrace.propagation.registry_config import AssignmentConfig
from exptrace.propagation.settings import invalid, setting, settings_from_env

ASSIGNMENTS_PATH = "/api/v1/assignments"
_log = logging.getLogger("exptrace.propagation.registry")


@dataclass(frozen=True)
class RegistrySettings:
    """Where the registry is and how often to ask it; each also ``EXPTRACE_REGISTRY_*``."""

    url: str | None = field(default=None, metadata=setting(env="EXPTRACE_REGISTRY_URL"))
    """The exptrace server, e.g. ``http://exptrace:4318``."""
    token: str | None = field(default=None, metadata=setting(env="EXPTRACE_REGISTRY_TOKEN"))
    """Sent as ``Authorization: Bearer`` when the server has a token (``EXPTRACE_TOKEN``)."""
    poll_seconds: float = field(
        default=10.0, metadata=setting(env="EXPTRACE_REGISTRY_POLL_SECONDS")
    )
    """Period between polls: a change reaches traffic within it plus one poll and one
    request."""
    timeout_seconds: float = field(
        default=5.0, metadata=setting(env="EXPTRACE_REGISTRY_TIMEOUT_SECONDS")
    )
    """How long one poll may take before it counts as failed."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> RegistrySettings:
        return settings_from_env(cls, environ, overrides)

    def __post_init__(self) -> None:
        if not self.url:
            raise invalid(self, "url", "is needed: the exptrace server, e.g. http://exptrace:4318")
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise invalid(self, "url", f"must be http(s)://HOST:PORT, got {self.url!r}")
        for name in ("poll_seconds", "timeout_seconds"):
            if not getattr(self, name) > 0:
                raise invalid(self, name, f"must be above 0 seconds, got {getattr(self, name)}")


@dataclass(frozen=True)
class PollStatus:
    """How the polling goes: what a health check or a log line can show."""

    fetched: bool
    """A config has been fetched at least once (before that, nothing is assigned)."""
    last_success: float | None
    """``time.time()`` of the last poll that answered 200 or 304."""
    last_error: str | None
    """Why the last poll failed, when it did (cleared by a success)."""
    etag: str | None


@dataclass(frozen=True)
class _Snapshot:
    config: AssignmentConfig
    hashing: HashAssigner | None
    """None without a unit to hash: the assigner then only revises what requests carry."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the token to wherever it points: treat it as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RegistryAssigner:
    """Assign by the registry's weights, send rolled-back variants' units to control (those
    arriving with the old variant in baggage, the header or the cookie too), and drop the
    members of stopped or archived experiments (no new assignment either).

    Without ``unit_header`` or ``unit_cookie`` it assigns nothing and only revises what
    requests carry: the set-up for services behind the one that assigns.

    >>> assigner = RegistryAssigner(RegistrySettings.from_env(url="http://exptrace:4318"),
    ...                             unit_header="x-user-id", unit_key=SECRET)
    """

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        unit_header: str | None = None,
        unit_cookie: str | None = None,
        unit_key: str | bytes | None = None,
        start: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else RegistrySettings.from_env()
        self._unit = {"unit_header": unit_header, "unit_cookie": unit_cookie, "unit_key": unit_key}
        self._units = HashAssigner({}, **self._unit) if unit_header or unit_cookie else None
        self._url = self.settings.url.rstrip("/") + ASSIGNMENTS_PATH  # type: ignore[union-attr]
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._snapshot: _Snapshot | None = None
        self._status = PollStatus(False, None, None, None)
        self._fetched = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exptrace-registry", daemon=True)
        if start:
            self._thread.start()

    # -- the request path: reads the last snapshot only ------------------------------------

    def __call__(self, request: RequestView, assigned: Mapping[str, str]) -> Mapping[str, str]:
        snapshot = self._snapshot
        if snapshot is None or snapshot.hashing is None:
            return {}
        return snapshot.hashing(request, assigned)

    def unit_token(self, request: RequestView) -> str | None:
        return self._units.unit_token(request) if self._units is not None else None

    def revise(self, assigned: Mapping[str, str]) -> Mapping[str, str]:
        snapshot = self._snapshot
        return snapshot.config.revise(assigned) if snapshot is not None else assigned

    # -- polling -------------------------------------------------------------------------

    @property
    def status(self) -> PollStatus:
        return self._status

    def ready(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the first config; True once there is one."""
        return self._fetched.wait(timeout)

    def close(self) -> None:
        """Stop polling (the last config stays in force)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.settings.timeout_seconds + 1)

    def poll(self) -> None:
        """Fetch the config once: new (200), unchanged (304) or failed (kept as it was)."""
        headers = {"accept": "application/json"}
        if self._status.etag:
            headers["if-none-match"] = self._status.etag
        if self.settings.token:
            headers["authorization"] = f"Bearer {self.settings.token}"
        request = urllib.request.Request(self._url, headers=headers)  # noqa: S310 (http(s) only)
        try:
            with self._opener.open(request, timeout=self.settings.timeout_seconds) as response:
                config = AssignmentConfig.parse(json.loads(response.read()))
                etag = response.headers.get("etag")
            self._install(config)
        except urllib.error.HTTPError as error:
            if error.code != 304 or self._snapshot is None:
                self._failed(f"HTTP {error.code}")
                return
            etag = self._status.etag
        except (OSError, ValueError) as error:  # network, timeout, not JSON, malformed
            self._failed(type(error).__name__ + (f": {error}" if str(error) else ""))
            return
        if self._status.last_error:
            _log.info("exptrace: registry polls answer again")
        self._status = PollStatus(True, time.time(), None, etag)
        self._fetched.set()

    def _install(self, config: AssignmentConfig) -> None:
        # the grammar's bound: the middleware's own limits (EXPTRACE_MAX_TOKEN_LENGTH) judge
        # what it is given, and say so when they leave any of it out
        plans = {
            experiment: weights
            for experiment, weights in config.weights.items()
            if grammar.is_token(experiment) and all(grammar.is_token(v) for v in weights)
        }
        hashing = HashAssigner(plans, **self._unit) if self._units is not None else None
        self._snapshot = _Snapshot(config, hashing)

    def _failed(self, reason: str) -> None:
        if self._status.last_error is None:
            kept = "the last config stays in force" if self._snapshot else "nothing is assigned"
            _log.warning("exptrace: registry poll failed (%s); %s", reason, kept)
        self._status = PollStatus(
            self._status.fetched, self._status.last_success, reason, self._status.etag
        )

    def _run(self) -> None:
        period = self.settings.poll_seconds
        due = time.monotonic()
        while not self._stop.is_set():
            self.poll()
            due = max(due + period, time.monotonic())  # fixed rate; no burst after a slow poll
            self._stop.wait(due - time.monotonic())
