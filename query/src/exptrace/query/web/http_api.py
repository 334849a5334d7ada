"""The HTTP API: registry reads and writes plus every query, as JSON under ``/api/v1``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from exptrace.ingest import FailureLimit, OutageNotes, StoreError
from exptrace.query.core import (
    ACTIONS,
    API,
    EXPERIMENT,
    EXPERIMENT_ACTION,
    EXPERIMENT_HISTORY,
    EXPERIMENTS,
    OPERATIONS,
    Experiment,
    Operation,
    Queries,
    Registry,
    Rows,
    Watcher,
    json_safe,
)
from exptrace.query.errors import BadInput, QueryError
from exptrace.query.web.act_api import act_endpoints
from exptrace.query.web.gate import LOOPBACK, Gate, Hosts, Refused
from exptrace.query.web.gates_api import gate_endpoints
from exptrace.query.web.pages import page_routes
from exptrace.query.web.statuses import status_of
from exptrace.query.web.ui_scope import PrefixRoutes
from exptrace.query.web.watch_api import watch_endpoints

_SET_BY_THE_REGISTRY = ("version", "changed_at", "changed_by", "status", "start_time", "end_time")
"""Experiment fields a client cannot give: versions, the audit trail, and what start/stop set."""


def _answering(op: Operation, queries: Queries) -> Callable[[Request], Any]:
    """The handler of one query operation: its parameters from the request, its answer."""
    return lambda request: op.run(
        queries, **op.from_http(request.query_params, request.path_params)
    )


def api_routes(
    queries: Queries,
    registry: Registry,
    authorized: Callable[[Request], bool],
    hosts: Hosts = LOOPBACK,
    watcher: Watcher | None = None,
    failures: FailureLimit | None = None,
) -> list[BaseRoute]:
    """Routes for the query layer; every one needs the bearer token when one is configured,
    and goes through the :class:`Gate` (Host, origin, JSON only, failures rate-limited in
    ``failures``: the receiver's own, so the OTLP doors' failures count too).
    ``watcher``: the one whose loop runs in this process, so a round asked for over the API
    waits for the loop's (default: a watcher of its own)."""
    gate = Gate(authorized, hosts, failures or FailureLimit())
    watcher = watcher or Watcher(queries, registry)
    outages = OutageNotes()

    def endpoint(fn: Callable[[Request], Any], status: int = 200):
        async def handle(request: Request) -> Response:
            try:
                gate.check_api(request)
            except Refused as refused:
                return JSONResponse({"error": str(refused)}, refused.status, refused.headers)
            try:
                body = None
                if request.method == "POST":
                    raw = await request.body()
                    try:
                        body = json.loads(raw) if raw else {}
                    except ValueError as error:  # not JSON, or not UTF-8
                        raise BadInput(str(error)) from None
                    if not isinstance(body, dict):
                        raise BadInput("the request body must be a JSON object")
                result = (
                    await run_in_threadpool(fn, request, body)
                    if body is not None
                    else await run_in_threadpool(fn, request)
                )
            except QueryError as error:
                answer = status_of(error)
                if answer is None:
                    raise
                return JSONResponse({"error": str(error)}, answer)
            except StoreError as error:
                return JSONResponse({"error": outages.describe(error)}, 503)
            if isinstance(result, Response):
                return result
            headers = result.headers() if isinstance(result, Rows) else None
            return JSONResponse(json_safe(result), status, headers=headers)

        return handle

    def actor(request: Request, body: dict | None = None) -> str:
        given = (body or {}).get("actor")
        if given is not None and not isinstance(given, str):
            raise BadInput("actor must be a string: who makes the change")
        return given or request.headers.get("x-exptrace-actor") or "api"

    def list_experiments(request: Request):
        status = request.query_params.get("status") or None
        return [e.to_dict() for e in registry.list(status)]

    def create(request: Request, body: dict):
        fields = {k: v for k, v in body.items() if k != "actor"}
        if "id" not in fields:
            raise BadInput("an experiment needs an id")
        given_by_registry = set(fields) & set(_SET_BY_THE_REGISTRY)
        if given_by_registry:
            raise BadInput(
                f"{', '.join(sorted(given_by_registry))}: set by the registry "
                "(status, start and end times by start, stop and archive)"
            )
        unknown = set(fields) - set(Experiment.__dataclass_fields__)
        if unknown:
            raise BadInput(f"unknown fields: {', '.join(sorted(unknown))}")
        return registry.create(Experiment(**fields), actor(request, body)).to_dict()

    def show(request: Request):
        return registry.get(request.path_params["id"]).to_dict()

    def change_status(request: Request, body: dict):
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise BadInput(f"unknown action {action!r}: use start, stop or archive")
        experiment = request.path_params["id"]
        return registry.set_status(experiment, ACTIONS[action], actor(request, body)).to_dict()

    def history(request: Request):
        return registry.history(request.path_params["id"])

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path = Request(scope).url.path
        answer = JSONResponse({"error": f"no such API path: {path}"}, 404)
        await answer(scope, receive, send)

    api = [
        Route(EXPERIMENTS, endpoint(list_experiments), methods=["GET"]),
        Route(EXPERIMENTS, endpoint(create, 201), methods=["POST"]),
        Route(EXPERIMENT, endpoint(show), methods=["GET"]),
        Route(EXPERIMENT_HISTORY, endpoint(history), methods=["GET"]),
        *[
            Route(path, endpoint(fn, status), methods=[method])
            for path, method, fn, status in [
                *act_endpoints(registry, actor),
                *watch_endpoints(watcher, actor),
                *gate_endpoints(watcher, registry),
            ]
        ],
        Route(EXPERIMENT_ACTION, endpoint(change_status), methods=["POST"]),
        *[Route(op.path, endpoint(_answering(op, queries)), methods=["GET"]) for op in OPERATIONS],
    ]
    return [
        *page_routes(queries, registry, gate, outages),
        PrefixRoutes(API, api, {}, not_found),
    ]
