"""HTTP routes that act: rollback, freeze, decisions, and the assignment config services poll.

Each is a plain function of the request (and its JSON body for a POST); ``http_api`` wraps
them like every other route (token check, errors mapped to HTTP status).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from exptrace.query.core import (
    API,
    DECISION_LOG,
    EXPERIMENT_DECIDE,
    EXPERIMENT_ROLLBACK,
    FREEZE,
    UNFREEZE,
    DecisionLog,
    FreezeLog,
    Registry,
    assignment_config,
    encode,
)
from exptrace.query.errors import BadInput

Actor = Callable[[Request, "dict | None"], str]
Endpoint = tuple[str, str, Callable[..., Any], int]
"""``(path, method, handler, status)``: a route for ``http_api`` to wrap."""


def act_endpoints(registry: Registry, actor: Actor) -> list[Endpoint]:
    """The routes; the rollback and decide paths must come before ``/experiments/{id}/{action}``."""
    decisions = DecisionLog(registry.store, registry)

    def text(body: dict, name: str, default: str | None = None) -> Any:
        value = body.get(name, default)
        if value is not None and not isinstance(value, str):
            raise BadInput(f"{name} must be a string")
        return value

    def rollback(request: Request, body: dict) -> dict:
        experiment = request.path_params["id"]
        return registry.rollback(
            experiment, text(body, "variant"), text(body, "reason", ""), actor(request, body)
        )

    def decide(request: Request, body: dict) -> dict:
        experiment = request.path_params["id"]
        return decisions.decide(
            experiment, text(body, "decision", ""), text(body, "reason", ""), actor(request, body)
        )

    def freeze(request: Request, body: dict) -> dict:
        return registry.freeze(actor(request, body), text(body, "reason", "")).to_dict()

    def unfreeze(request: Request, body: dict) -> dict:
        return registry.unfreeze(actor(request, body), text(body, "reason", "")).to_dict()

    def frozen(request: Request) -> dict:
        log = FreezeLog(registry.store)
        return {**log.current().to_dict(), "log": [f.to_dict() for f in log.entries()]}

    def assignments(request: Request) -> Response:
        body, etag = encode(assignment_config(registry))
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        asked = request.headers.get("if-none-match", "")
        given = {tag.strip().removeprefix("W/") for tag in asked.split(",")}
        if etag in given or "*" in given:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return [
        (EXPERIMENT_ROLLBACK, "POST", rollback, 200),
        (EXPERIMENT_DECIDE, "POST", decide, 201),
        (DECISION_LOG, "GET", lambda request: decisions.time_to_decision(), 200),
        (FREEZE, "GET", frozen, 200),
        (FREEZE, "POST", freeze, 200),
        (UNFREEZE, "POST", unfreeze, 200),
        (f"{API}/assignments", "GET", assignments, 200),
    ]
