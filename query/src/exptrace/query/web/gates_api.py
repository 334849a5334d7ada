"""HTTP routes of the rollout gates, in the shapes Argo Rollouts and Flagger use.

Argo Rollouts' web metric provider: ``GET /api/v1/gates/argo/{id}?variant=V`` answers 200
with ``{"result": "pass" | "fail" | "inconclusive", ...}`` (``deploy/argo-rollouts``).
Flagger's webhooks: ``POST /api/v1/gates/flagger/{hook}`` with Flagger's body (``name``,
``namespace``, ``phase``, ``type``, ``metadata`` naming ``experiment`` and ``variant``)
answer 200 to go on and 412 to halt (for ``rollback``: 200 rolls back).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from exptrace.query.core import API, Registry, Watcher, flagger, json_safe, verdict
from exptrace.query.errors import BadInput
from exptrace.query.web.act_api import Endpoint

HALT = 412
"""Flagger treats any status above 202 as "do not go on"; 412: the precondition (the
experiment's verdict) does not hold yet."""


def gate_endpoints(watcher: Watcher, registry: Registry) -> list[Endpoint]:
    def argo(request: Request) -> dict:
        return verdict(watcher, request.path_params["id"], request.query_params.get("variant", ""))

    def flagger_hook(request: Request, body: dict) -> JSONResponse:
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not isinstance(metadata.get("experiment"), str):
            raise BadInput("Flagger's metadata must name the experiment: {experiment: ID}")
        variant = metadata.get("variant", "")
        if not isinstance(variant, str):
            raise BadInput("metadata.variant must be a string")
        hook = request.path_params["hook"]
        go, answer = flagger(watcher, registry, hook, metadata["experiment"], variant)
        answer["canary"] = f"{body.get('namespace', '')}/{body.get('name', '')}"
        return JSONResponse(json_safe(answer), 200 if go else HALT)

    return [
        (f"{API}/gates/argo/{{id}}", "GET", argo, 200),
        (f"{API}/gates/flagger/{{hook}}", "POST", flagger_hook, 200),
    ]
