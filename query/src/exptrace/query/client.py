"""One interface for the CLI: a running server's HTTP API, or the store opened directly."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from exptrace.ingest.store import Store
from exptrace.query.api import Queries, Window, json_safe
from exptrace.query.registry import (
    ACTIONS,
    Experiment,
    Registry,
    RegistryError,
    UnknownExperiment,
)


class ClientError(Exception):
    """A request the server or store refused, with its message."""


class LocalClient:
    """Reads and writes a store this process opened."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = Registry(store)
        self.queries = Queries(store, self.registry)

    def call(self, name: str, **kw: Any) -> Any:
        try:
            return json_safe(getattr(self, f"_{name}")(**kw))
        except (RegistryError, ValueError) as error:
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

    def _report(self, id, start=None, end=None):
        return self.queries.report(id, Window.parse(start, end))

    def _coverage(self, start=None, end=None, threshold=0.95):
        return self.queries.tagging_coverage(Window.parse(start, end), threshold=threshold)

    def _propagation(self, start=None, end=None, threshold=0.95):
        return self.queries.propagation_coverage(Window.parse(start, end), threshold)

    def _attribution(self, start=None, end=None):
        return self.queries.attribution(Window.parse(start, end))

    def _incident(self, start=None, end=None, service="", route=""):
        return self.queries.incident(Window.parse(start, end), service, route)

    def _burn(self, at=None):
        return self.queries.burn_rates(at)

    def _lag(self, start=None, end=None):
        return self.queries.ingestion_lag(Window.parse(start, end))

    def _cardinality(self, start=None, end=None):
        return self.queries.cardinality(Window.parse(start, end))


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
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = error.reason
            raise ClientError(f"{message} (HTTP {error.code})") from None

    def call(self, name: str, **kw: Any) -> Any:
        quoted = {
            k: urllib.parse.quote(str(v), safe="") for k, v in kw.items() if k in ("id", "action")
        }
        window = {"from": kw.get("start"), "to": kw.get("end")}
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
        if name == "report":
            return self._request("GET", f"/api/v1/report/{quoted['id']}", window)
        if name in ("coverage", "propagation"):
            return self._request(
                "GET", f"/api/v1/{name}", {**window, "threshold": kw.get("threshold")}
            )
        if name == "incident":
            params = {**window, "service": kw.get("service"), "route": kw.get("route")}
            return self._request("GET", "/api/v1/incident", params)
        if name == "burn":
            return self._request("GET", "/api/v1/burn", {"at": kw.get("at")})
        if name in ("attribution", "lag", "cardinality"):
            return self._request("GET", f"/api/v1/{name}", window)
        raise ClientError(f"unknown call {name}")


def api_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (OSError, ValueError):
        return False


__all__ = ["ApiClient", "ClientError", "LocalClient", "UnknownExperiment", "api_answers"]
