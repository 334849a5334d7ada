"""One interface for the CLI: a running server's HTTP API, or the store opened directly."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from exptrace.ingest import Schema, SchemaError, Store, ensure_query_views, open_existing
from exptrace.query.core import (
    ACTIONS,
    DECISION_LOG,
    DEFAULT_LIMIT,
    EXPERIMENT,
    EXPERIMENT_ACTION,
    EXPERIMENT_DECIDE,
    EXPERIMENT_HISTORY,
    EXPERIMENT_POLICY,
    EXPERIMENT_ROLLBACK,
    EXPERIMENTS,
    FREEZE,
    UNFREEZE,
    WATCH,
    WATCH_HISTORY,
    WATCH_ROUND,
    DecisionLog,
    Experiment,
    Operation,
    Page,
    Queries,
    Registry,
    Rows,
    Watcher,
    json_safe,
    schema_parts,
)
from exptrace.query.errors import BadInput, ClientError, UnknownExperiment


class Client(Protocol):
    """What the CLI asks, the same whether answered in process or over HTTP: the query
    operations of :data:`~exptrace.query.core.operations.OPERATIONS` through ``query``,
    and the registry's and the watcher's calls, each a method."""

    def query(self, op: Operation, **args: Any) -> Any: ...
    def experiments(self, status: str | None = None) -> list[dict[str, Any]]: ...
    def experiment(self, id: str) -> dict[str, Any]: ...
    def create(self, experiment: dict[str, Any], actor: str) -> dict[str, Any]: ...
    def set_status(self, id: str, action: str, actor: str) -> dict[str, Any]: ...
    def history(self, id: str) -> list[dict[str, Any]]: ...
    def rollback(self, id: str, variant: str, reason: str, actor: str) -> dict[str, Any]: ...
    def decide(self, id: str, decision: str, reason: str, actor: str) -> dict[str, Any]: ...
    def decisions(self) -> dict[str, Any]: ...
    def freeze(self, reason: str, actor: str) -> dict[str, Any]: ...
    def unfreeze(self, reason: str, actor: str) -> dict[str, Any]: ...
    def policy(self, id: str, policy: str, actor: str) -> dict[str, Any]: ...
    def watch_round(self) -> dict[str, Any]: ...
    def watch_state(self, experiment: str = "") -> Any: ...
    def watch_history(
        self, experiment: str = "", limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> Rows: ...


class LocalClient:
    """Reads and writes a store this process opened."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = Registry(store)
        self.queries = Queries(store, self.registry)
        self.watcher = Watcher(self.queries, self.registry)

    @classmethod
    def open_existing(cls, data_dir: str | Path) -> LocalClient:
        """The embedded store in ``<data_dir>/store``, opened as it is: never created, never
        migrated."""
        path = Path(data_dir) / "store"
        if not (path / "metadata").is_dir():
            raise ClientError(f"{Path(data_dir).resolve()} holds no exptrace store")
        try:
            store = open_existing(f"chdb://{path.resolve()}")
        except SchemaError as error:
            raise ClientError(str(error)) from None
        # A store only ``exptrace-ingest`` ever ran lacks the query layer's own tables (the
        # registry's logs): they are added as ``exptrace up`` adds them; nothing else changes.
        ensure_query_views(store, Schema(query_tables=schema_parts()["query_tables"]))
        return cls(store)

    def query(self, op: Operation, **args: Any) -> Any:
        return _answer(lambda: op.run(self.queries, **args))

    def experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        return _answer(lambda: [e.to_dict() for e in self.registry.list(status)])

    def experiment(self, id: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.get(id).to_dict())

    def create(self, experiment: dict[str, Any], actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.create(Experiment(**experiment), actor).to_dict())

    def set_status(self, id: str, action: str, actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.set_status(id, ACTIONS[action], actor).to_dict())

    def history(self, id: str) -> list[dict[str, Any]]:
        return _answer(lambda: self.registry.history(id))

    def rollback(self, id: str, variant: str, reason: str, actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.rollback(id, variant, reason, actor))

    def decide(self, id: str, decision: str, reason: str, actor: str) -> dict[str, Any]:
        log = DecisionLog(self.store, self.registry)
        return _answer(lambda: log.decide(id, decision, reason, actor))

    def decisions(self) -> dict[str, Any]:
        return _answer(lambda: DecisionLog(self.store, self.registry).time_to_decision())

    def freeze(self, reason: str, actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.freeze(actor, reason).to_dict())

    def unfreeze(self, reason: str, actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.unfreeze(actor, reason).to_dict())

    def policy(self, id: str, policy: str, actor: str) -> dict[str, Any]:
        return _answer(lambda: self.registry.set_policy(id, policy, actor))

    def watch_round(self) -> dict[str, Any]:
        return _answer(self.watcher.round)

    def watch_state(self, experiment: str = "") -> Any:
        return _answer(lambda: self.watcher.status(experiment))

    def watch_history(
        self, experiment: str = "", limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> Rows:
        return _answer(lambda: self.watcher.history(experiment, Page(limit, offset)))


def _answer(compute: Callable[[], Any]) -> Any:
    """``compute``'s answer, JSON-safe as the API would send it; a refusal is a ClientError."""
    try:
        return json_safe(compute())
    except BadInput as error:
        raise ClientError(str(error)) from None


class ApiClient:
    """The same calls, over a running exptrace server's HTTP API."""

    def __init__(self, url: str, token: str | None = None) -> None:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise ClientError(f"the API URL must be http(s)://..., got {url!r}")
        self.url = url.rstrip("/")
        self.token = token

    def _request(
        self, method: str, path: str, params: dict | None = None, body: dict | None = None
    ):
        query = urllib.parse.urlencode(
            {k: v for k, v in (params or {}).items() if v not in (None, "")}
        )
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (our own URL)
                data = json.loads(response.read())
                total = response.headers.get("X-Total-Count")
                if total is None or not isinstance(data, list):
                    return data
                page = Page(int(response.headers["X-Limit"]), int(response.headers["X-Offset"]))
                return Rows(data, int(total), page)
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = error.reason
            raise ClientError(f"{message} (HTTP {error.code})") from None
        except (OSError, http.client.HTTPException) as error:
            raise ClientError(
                f"no exptrace API answers at {self.url}: {_reason(error, self.url)}"
            ) from None

    def check(self, timeout: float = 2.0) -> None:
        """Raise :class:`ClientError`, saying why, unless the server answers its health check."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=timeout) as response:  # noqa: S310
                if response.status == 200:
                    return
                reason = f"its health check answered HTTP {response.status}"
        except (OSError, http.client.HTTPException) as error:
            reason = _reason(error, self.url)
        raise ClientError(f"no exptrace API answers at {self.url}: {reason}")

    def query(self, op: Operation, **args: Any) -> Any:
        path, params = op.to_http(args, _quote)
        return self._request("GET", path, params)

    def experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        return self._request("GET", EXPERIMENTS, {"status": status})

    def experiment(self, id: str) -> dict[str, Any]:
        return self._request("GET", EXPERIMENT.format(id=_quote(id)))

    def create(self, experiment: dict[str, Any], actor: str) -> dict[str, Any]:
        return self._request("POST", EXPERIMENTS, body={**experiment, "actor": actor})

    def set_status(self, id: str, action: str, actor: str) -> dict[str, Any]:
        path = EXPERIMENT_ACTION.format(id=_quote(id), action=_quote(action))
        return self._request("POST", path, body={"actor": actor})

    def history(self, id: str) -> list[dict[str, Any]]:
        return self._request("GET", EXPERIMENT_HISTORY.format(id=_quote(id)))

    def rollback(self, id: str, variant: str, reason: str, actor: str) -> dict[str, Any]:
        body = {"variant": variant, "reason": reason, "actor": actor}
        return self._request("POST", EXPERIMENT_ROLLBACK.format(id=_quote(id)), body=body)

    def decide(self, id: str, decision: str, reason: str, actor: str) -> dict[str, Any]:
        body = {"decision": decision, "reason": reason, "actor": actor}
        return self._request("POST", EXPERIMENT_DECIDE.format(id=_quote(id)), body=body)

    def decisions(self) -> dict[str, Any]:
        return self._request("GET", DECISION_LOG)

    def freeze(self, reason: str, actor: str) -> dict[str, Any]:
        return self._request("POST", FREEZE, body={"reason": reason, "actor": actor})

    def unfreeze(self, reason: str, actor: str) -> dict[str, Any]:
        return self._request("POST", UNFREEZE, body={"reason": reason, "actor": actor})

    def policy(self, id: str, policy: str, actor: str) -> dict[str, Any]:
        body = {"policy": policy, "actor": actor}
        return self._request("POST", EXPERIMENT_POLICY.format(id=_quote(id)), body=body)

    def watch_round(self) -> dict[str, Any]:
        return self._request("POST", WATCH_ROUND, body={})

    def watch_state(self, experiment: str = "") -> Any:
        return self._request("GET", WATCH, {"experiment": experiment})

    def watch_history(
        self, experiment: str = "", limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> Rows:
        params = {"experiment": experiment, "limit": limit, "offset": offset}
        return self._request("GET", WATCH_HISTORY, params)


def _quote(text: str) -> str:
    """One URL path segment."""
    return urllib.parse.quote(str(text), safe="")


def api_answers(url: str) -> bool:
    """True when an exptrace server answers its health check at ``url``."""
    try:
        ApiClient(url).check()
    except ClientError:
        return False
    return True


def _reason(error: BaseException, url: str) -> str:
    """What went wrong reaching a server, in words, from what it answered."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    parts = urllib.parse.urlsplit(url)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{error.verify_message}: trust its certificate with SSL_CERT_FILE=CERT.pem"
    if isinstance(error, ssl.SSLError) and error.reason == "WRONG_VERSION_NUMBER":
        return f"it does not speak TLS: use http://{parts.netloc}"
    if isinstance(error, http.client.HTTPException):
        default_port = 443 if parts.scheme == "https" else 80
        tls = _tls_protocol(parts.hostname or "", parts.port or default_port)
        if tls == "h2":
            return "it speaks HTTP/2 over TLS (the OTLP/gRPC port? the API is on the HTTP port)"
        if tls is not None and parts.scheme == "http":
            return f"it is a TLS server: use https://{parts.netloc}"
        if tls is None:
            return "it does not speak HTTP/1.1 (the OTLP/gRPC port? the API is on the HTTP port)"
    return str(error) or type(error).__name__


def _tls_protocol(host: str, port: int, timeout: float = 2.0) -> str | None:
    """The protocol a TLS server at ``host:port`` picks ("h2", or "" for none named), or None
    when it does not complete a TLS handshake. Only a handshake is sent: no token, no request."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking whether it speaks TLS at all
    context.set_alpn_protocols(["h2", "http/1.1"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.selected_alpn_protocol() or ""
    except OSError:
        return None


__all__ = ["ApiClient", "Client", "ClientError", "LocalClient", "UnknownExperiment", "api_answers"]
