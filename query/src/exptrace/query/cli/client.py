"""One interface for the CLI: a running server's HTTP API, or the store opened directly."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from exptrace.ingest import SchemaError, Store, open_existing
from exptrace.query.core.answers import DEFAULT_LIMIT, Page, Rows, json_safe
from exptrace.query.core.decisions import DecisionLog
from exptrace.query.core.queries import Queries
from exptrace.query.core.registry import ACTIONS, Experiment, Registry, known
from exptrace.query.core.watch import Watcher
from exptrace.query.core.window_check import parse_moment, parse_window
from exptrace.query.errors import BadInput, ClientError, UnknownExperiment


class LocalClient:
    """Reads and writes a store this process opened."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = Registry(store)
        self.queries = Queries(store, self.registry)
        self.watcher = Watcher(self.queries, self.registry)

    @classmethod
    def open_existing(cls, data_dir: str | Path) -> LocalClient:
        """The embedded store in ``<data_dir>/store``, opened as it is: never created, no DDL."""
        path = Path(data_dir) / "store"
        if not (path / "metadata").is_dir():
            raise ClientError(f"{Path(data_dir).resolve()} holds no exptrace store")
        try:
            store = open_existing(f"chdb://{path.resolve()}")
        except SchemaError as error:
            raise ClientError(str(error)) from None
        return cls(store)

    def call(self, name: str, **kw: Any) -> Any:
        try:
            return json_safe(getattr(self, f"_{name}")(**kw))
        except BadInput as error:
            raise ClientError(str(error)) from None

    def _experiments(self, status=None):
        return [e.to_dict() for e in self.registry.list(status)]

    def _experiment(self, id):
        return self.registry.get(id).to_dict()

    def _create(self, experiment: dict, actor: str):
        return self.registry.create(Experiment(**experiment), actor).to_dict()

    def _set_status(self, id, action, actor):
        return self.registry.set_status(id, ACTIONS[action], actor).to_dict()

    def _history(self, id):
        return self.registry.history(id)

    def _rollback(self, id, variant, reason, actor):
        return self.registry.rollback(id, variant, reason, actor)

    def _decide(self, id, decision, reason, actor):
        return DecisionLog(self.store, self.registry).decide(id, decision, reason, actor)

    def _decisions(self):
        return DecisionLog(self.store, self.registry).time_to_decision()

    def _freeze(self, reason, actor):
        return self.registry.freeze(actor, reason).to_dict()

    def _unfreeze(self, reason, actor):
        return self.registry.unfreeze(actor, reason).to_dict()

    def _policy(self, id, policy, actor):
        return self.registry.set_policy(id, policy, actor)

    def _watch_round(self):
        return self.watcher.round()

    def _watch_state(self, experiment=""):
        return self.watcher.status(experiment)

    def _watch_history(self, experiment="", limit=DEFAULT_LIMIT, offset=0):
        return self.watcher.history(experiment, Page(limit, offset))

    def _report(self, id, start=None, end=None):
        window = parse_window(start, end) if start or end else None
        return known(self.queries.report(id, window))

    def _coverage(self, start=None, end=None, threshold=0.95):
        return self.queries.tagging_coverage(parse_window(start, end), threshold=threshold)

    def _propagation(self, start=None, end=None, threshold=0.95):
        return self.queries.propagation_coverage(parse_window(start, end), threshold)

    def _attribution(self, start=None, end=None):
        return self.queries.attribution(parse_window(start, end))

    def _incident(self, start=None, end=None, service="", route="", limit=DEFAULT_LIMIT, offset=0):
        return self.queries.incident(
            parse_window(start, end), service, route, limit=limit, offset=offset
        )

    def _burn(self, at=None, limit=DEFAULT_LIMIT, offset=0):
        return self.queries.burn_rates(parse_moment(at) if at else None, limit=limit, offset=offset)

    def _seen(self, start=None, end=None, unregistered=False, limit=DEFAULT_LIMIT, offset=0):
        return self.queries.seen_experiments(
            parse_window(start, end), unregistered=unregistered, limit=limit, offset=offset
        )

    def _lag(self, start=None, end=None):
        return self.queries.ingestion_lag(parse_window(start, end))

    def _cardinality(self, start=None, end=None, limit=DEFAULT_LIMIT, offset=0):
        return self.queries.cardinality(parse_window(start, end), limit=limit, offset=offset)


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

    def call(self, name: str, **kw: Any) -> Any:
        quoted = {
            k: urllib.parse.quote(str(v), safe="") for k, v in kw.items() if k in ("id", "action")
        }
        window = {"from": kw.get("start"), "to": kw.get("end")}
        page = {"limit": kw.get("limit"), "offset": kw.get("offset")}
        if name == "experiments":
            return self._request("GET", "/api/v1/experiments", {"status": kw.get("status")})
        if name == "experiment":
            return self._request("GET", f"/api/v1/experiments/{quoted['id']}")
        if name == "create":
            return self._request(
                "POST", "/api/v1/experiments", body={**kw["experiment"], "actor": kw["actor"]}
            )
        if name == "set_status":
            return self._request(
                "POST",
                f"/api/v1/experiments/{quoted['id']}/{quoted['action']}",
                body={"actor": kw["actor"]},
            )
        if name == "history":
            return self._request("GET", f"/api/v1/experiments/{quoted['id']}/history")
        if name in ("rollback", "decide"):
            body = {k: v for k, v in kw.items() if k != "id"}
            return self._request("POST", f"/api/v1/experiments/{quoted['id']}/{name}", body=body)
        if name == "decisions":
            return self._request("GET", "/api/v1/decisions")
        if name == "policy":
            body = {"policy": kw["policy"], "actor": kw["actor"]}
            return self._request("POST", f"/api/v1/experiments/{quoted['id']}/policy", body=body)
        if name == "watch_round":
            return self._request("POST", "/api/v1/watch/round", body={})
        if name == "watch_state":
            return self._request("GET", "/api/v1/watch", {"experiment": kw.get("experiment")})
        if name == "watch_history":
            params = {"experiment": kw.get("experiment"), **page}
            return self._request("GET", "/api/v1/watch/history", params)
        if name in ("freeze", "unfreeze"):
            return self._request("POST", f"/api/v1/{name}", body=kw)
        if name == "report":
            return self._request("GET", f"/api/v1/report/{quoted['id']}", window)
        if name in ("coverage", "propagation"):
            return self._request(
                "GET", f"/api/v1/{name}", {**window, "threshold": kw.get("threshold")}
            )
        if name == "incident":
            params = {**window, **page, "service": kw.get("service"), "route": kw.get("route")}
            return self._request("GET", "/api/v1/incident", params)
        if name == "burn":
            return self._request("GET", "/api/v1/burn", {"at": kw.get("at"), **page})
        if name == "seen":
            flag = "true" if kw.get("unregistered") else None
            return self._request("GET", "/api/v1/seen", {**window, **page, "unregistered": flag})
        if name == "cardinality":
            return self._request("GET", "/api/v1/cardinality", {**window, **page})
        if name in ("attribution", "lag"):
            return self._request("GET", f"/api/v1/{name}", window)
        raise ClientError(f"unknown call {name}")


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


__all__ = ["ApiClient", "ClientError", "LocalClient", "UnknownExperiment", "api_answers"]
