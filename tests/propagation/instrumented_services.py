"""Every ``opentelemetry-instrument`` set-up of :mod:`tests.propagation.frameworks`, served.

Run under ``opentelemetry-instrument python -m tests.propagation.instrumented_services``:
prints one JSON line (set-up name -> base URL), serves until its standard input closes, then
exits normally so the SDK exports every span it still holds.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from exptrace.propagation import setup
from tests.propagation.frameworks import serving, set_ups
from tests.servers import serve


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve_wsgi(app):
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def main() -> None:
    setup()  # after auto-instrumentation configured the SDK, as the README says
    urls = {}
    with contextlib.ExitStack() as stack:
        for set_up in set_ups("auto"):
            app = stack.enter_context(serving(set_up))
            urls[set_up.name] = stack.enter_context(_serve_wsgi(app) if set_up.wsgi else serve(app))
        print(json.dumps(urls), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
