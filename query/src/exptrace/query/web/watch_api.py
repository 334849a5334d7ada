"""HTTP routes of the watcher: its state and history, a round on demand, the watch policy.

Plain functions of the request, wrapped by ``http_api`` like every other route.
"""

from __future__ import annotations

from starlette.requests import Request

from exptrace.query.core import EXPERIMENT_POLICY, WATCH, WATCH_HISTORY, WATCH_ROUND, Page, Watcher
from exptrace.query.errors import BadInput
from exptrace.query.web.act_api import Actor, Endpoint


def watch_endpoints(watcher: Watcher, actor: Actor) -> list[Endpoint]:
    """The routes; the policy path must come before ``/experiments/{id}/{action}``."""

    def status(request: Request) -> dict:
        return watcher.status(request.query_params.get("experiment", ""))

    def history(request: Request):
        q = request.query_params
        page = Page.parse(q.get("limit"), q.get("offset"))
        return watcher.history(q.get("experiment", ""), page)

    def policy(request: Request, body: dict) -> dict:
        given = body.get("policy")
        if not isinstance(given, str):
            raise BadInput('policy must be a string: "notify" or "rollback"')
        return watcher.registry.set_policy(request.path_params["id"], given, actor(request, body))

    return [
        (EXPERIMENT_POLICY, "POST", policy, 200),
        (WATCH, "GET", status, 200),
        (WATCH_HISTORY, "GET", history, 200),
        (WATCH_ROUND, "POST", lambda request, body: watcher.round(), 200),
    ]
