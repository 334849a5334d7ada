"""One route for everything under a path prefix, whose every response carries the same headers.

Starlette answers an unknown path or a wrong method from outside the routes, with bare
responses; grouped here, the pages' 404s and 405s carry the pages' security headers too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Router, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PrefixRoutes(BaseRoute):
    """``routes`` (full paths under ``prefix``), ``not_found`` for any other path under it,
    and ``headers`` on every response unless the endpoint set that header itself."""

    def __init__(
        self,
        prefix: str,
        routes: Sequence[BaseRoute],
        headers: Mapping[str, str],
        not_found: ASGIApp,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.router = Router(routes=list(routes), default=not_found)
        self.headers = dict(headers)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path == self.prefix or path.startswith(self.prefix + "/"):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object):
        return self.router.url_path_for(name, **path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.router(scope, receive, send_with_headers)
        except HTTPException as error:  # a wrong method (405) and the like, raised by the router
            response = PlainTextResponse(error.detail, error.status_code, headers=error.headers)
            await response(scope, receive, send_with_headers)
