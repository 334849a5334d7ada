"""A service of the live rollback test, run as its own process:
``python -m tests.propagation.registry_services NAME asgi|wsgi NEXT_URL|- UNIT_HEADER|-``.

It answers ``{"<NAME>": variant, ...the next service's answer}``: the variant of
``checkout-v2`` it ran the request under, then what the next service (called with the
request's baggage) said. The assigner reads ``EXPTRACE_REGISTRY_*``; with a unit header it
assigns units (the edge), else it only revises what requests carry. It prints
``listening PORT`` once its assigner has its first config.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.request
import wsgiref.simple_server

import uvicorn
from opentelemetry import propagate
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from exptrace.propagation import (
    ExperimentMiddleware,
    ExperimentWSGIMiddleware,
    RegistryAssigner,
    current_assignments,
)

EXPERIMENT = "checkout-v2"


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log on stderr."""


def answer(name: str, downstream: str | None) -> dict[str, str | None]:
    """This service's variant, then the downstream answer (called under this context)."""
    mine = {name: current_assignments().get(EXPERIMENT)}
    if not downstream:
        return mine
    headers: dict[str, str] = {}
    propagate.inject(headers)
    request = urllib.request.Request(downstream, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return {**mine, **json.loads(response.read())}


def main() -> None:
    name, kind, downstream, unit_header = (None if a == "-" else a for a in sys.argv[1:5])
    assert name is not None
    assigner = RegistryAssigner(unit_header=unit_header)
    if not assigner.ready(120):
        raise SystemExit(f"{name}: no assignment config: {assigner.status.last_error}")
    if kind == "wsgi":

        def app(environ, start_response):
            body = json.dumps(answer(name, downstream)).encode()
            start_response("200 OK", [("content-type", "application/json")])
            return [body]

        server = wsgiref.simple_server.make_server(
            "127.0.0.1",
            0,
            ExperimentWSGIMiddleware(app, assigner=assigner),
            handler_class=QuietHandler,
        )
        print(f"listening {server.server_port}", flush=True)
        server.serve_forever()
        return

    async def home(request):
        return JSONResponse(await asyncio.to_thread(answer, name, downstream))

    app = ExperimentMiddleware(Starlette(routes=[Route("/", home)]), assigner=assigner)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from here on, before uvicorn's loop accepts them
    print(f"listening {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])


if __name__ == "__main__":
    main()
