"""The web pages under ``/ui``: charts drawn on the server as SVG, no JavaScript, nothing from
another host. Read-only; when a token is set, a browser signs in once (see ``auth``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from exptrace.ingest import OutageNotes, StoreError
from exptrace.query.core import FreezeLog, Queries, Registry, Series
from exptrace.query.errors import (
    NotFound,
    QueryError,
    SignInError,
    WrongToken,
)
from exptrace.query.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Sessions,
    cookie_options,
    new_csrf,
    read_form,
    safe_next,
)
from exptrace.query.web.charts import esc
from exptrace.query.web.gate import Gate, Refused, check_origin
from exptrace.query.web.html_parts import CSP, layout
from exptrace.query.web.page_experiments import ExperimentPages
from exptrace.query.web.page_operations import OperationsPages
from exptrace.query.web.page_views import ViewPages
from exptrace.query.web.statuses import TITLES, status_of
from exptrace.query.web.ui_scope import PrefixRoutes

HEADERS = {
    "Content-Security-Policy": CSP,  # frame-ancestors 'none' among its rules
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page_routes(
    queries: Queries, registry: Registry, gate: Gate, outages: OutageNotes
) -> list[PrefixRoutes]:
    """The pages, the style sheet and sign-in, behind the API's :class:`Gate` (its bearer
    check, Host check and failure limit); store outages are told as the API's ``outages``.

    Every response under /ui, a 404 or 405 included, carries :data:`HEADERS`."""
    sessions = Sessions(gate.authorized)
    series = Series(queries.engine)
    experiments = ExperimentPages(queries, registry, series)
    operations = OperationsPages(queries, series)
    views = ViewPages(queries, registry)
    static = Path(__file__).parent / "static"
    assets = {
        "exptrace.css": ((static / "exptrace.css").read_bytes(), "text/css"),
        "favicon.svg": ((static / "favicon.svg").read_bytes(), "image/svg+xml"),
    }

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status)

    def refusal(request: Request, refused: Refused) -> Response:
        body = f"<p>{esc(str(refused))}</p>"
        page = layout("Refused", body, request.url.path, sessions.required)
        return HTMLResponse(page, refused.status, refused.headers)

    def guarded(build: Callable[[Request], tuple[str, str]]):
        async def handle(request: Request) -> Response:
            path = request.url.path
            # A bearer header on a page is a guess like any other: limited and counted.
            guessing = sessions.required and "authorization" in request.headers
            try:
                gate.check_host(request)
                if guessing:
                    gate.check_limit(request)
            except Refused as refused:
                return refusal(request, refused)
            if not sessions.allowed(request):
                if guessing:
                    gate.failed(request)
                target = path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/signin?{_encode({'next': target})}", 303)
            signed_in = sessions.required
            try:
                title, body = await run_in_threadpool(build, request)
                body = await run_in_threadpool(frozen_banner, registry) + body
            except NotFound as missing:
                return html(layout(missing.title, missing.body, path, signed_in), 404)
            except QueryError as error:
                status = status_of(error)
                if status is None:
                    raise
                title = TITLES.get(status, "Bad request")
                return html(layout(title, f"<p>{esc(error)}</p>", path, signed_in), status)
            except StoreError as error:
                reason = outages.describe(error)
                body = f"<p>{esc(reason[:1].upper() + reason[1:])}</p>"
                return html(layout("Store unavailable", body, path, signed_in), 503)
            return html(layout(title, body, path, signed_in))

        return handle

    # -- sign-in ---------------------------------------------------------------------------

    def signin_form(request: Request, message: str = "", status: int = 200) -> Response:
        csrf = new_csrf()
        target = safe_next(request.query_params.get("next"))
        note = f'<div class="banner bad">{esc(message)}</div>' if message else ""
        body = (
            f"{note}<div class='panel'><p>This exptrace server needs its token "
            "(<code>EXPTRACE_TOKEN</code>). It is checked once; the browser then keeps a "
            "session cookie for 12 hours.</p>"
            f'<form method="post" action="/ui/signin?{esc(_encode({"next": target}))}">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            '<label>token <input type="password" name="token" autocomplete="current-password" '
            "autofocus></label> <button>sign in</button></form></div>"
        )
        response = html(layout("Sign in", body, "/ui/signin"), status)
        response.set_cookie(CSRF_COOKIE, csrf, max_age=3600, **cookie_options(request))
        return response

    async def signin_page(request: Request) -> Response:
        try:
            gate.check_host(request)
        except Refused as refused:
            return refusal(request, refused)
        if not sessions.required:
            return RedirectResponse("/ui", 303)
        return signin_form(request)

    async def signin_submit(request: Request) -> Response:
        try:
            gate.check_host(request)
            gate.check_limit(request)
        except Refused as refused:
            return refusal(request, refused)
        try:
            form = await read_form(request)
            session = await run_in_threadpool(sessions.sign_in, request, form)
        except SignInError as error:
            if isinstance(error, WrongToken):
                gate.failed(request)
            return signin_form(request, str(error), status_of(error) or 400)
        response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
        response.set_cookie(
            SESSION_COOKIE, session, max_age=int(sessions.lifetime), **cookie_options(request)
        )
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    async def signout(request: Request) -> Response:
        try:
            gate.check_host(request)
            check_origin(request)
        except Refused as refused:
            return refusal(request, refused)
        sessions.sign_out(request)
        response = RedirectResponse("/ui/signin", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def asset(request: Request) -> Response:
        if request.path_params["name"] not in assets:
            return Response("not found", 404, media_type="text/plain")
        content, media_type = assets[request.path_params["name"]]
        return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    async def not_found(scope, receive, send) -> None:
        path = Request(scope).url.path
        body = "<p>No page here: the pages are listed above.</p>"
        await html(layout("Not found", body, path), 404)(scope, receive, send)

    routes = [
        Route("/ui", guarded(experiments.index), methods=["GET"]),
        Route("/ui/experiments/{id:path}", guarded(experiments.experiment), methods=["GET"]),
        Route("/ui/incident", guarded(operations.incident), methods=["GET"]),
        Route("/ui/coverage", guarded(operations.coverage), methods=["GET"]),
        Route("/ui/propagation", guarded(operations.propagation), methods=["GET"]),
        Route("/ui/burn", guarded(operations.burn), methods=["GET"]),
        Route("/ui/oncall", guarded(views.oncall), methods=["GET"]),
        Route("/ui/executive", guarded(views.executive), methods=["GET"]),
        Route("/ui/lag", guarded(operations.lag), methods=["GET"]),
        Route("/ui/cardinality", guarded(operations.cardinality), methods=["GET"]),
        Route("/ui/signin", signin_page, methods=["GET"]),
        Route("/ui/signin", signin_submit, methods=["POST"]),
        Route("/ui/signout", signout, methods=["POST"]),
        Route("/ui/static/{name}", asset, methods=["GET"]),
    ]
    return [PrefixRoutes("/ui", routes, HEADERS, not_found)]


def frozen_banner(registry: Registry) -> str:
    """A banner on top of every page while experiments are frozen, naming who and why."""
    freeze = FreezeLog(registry.store).current()
    if not freeze.frozen:
        return ""
    return f'<div class="banner bad">Frozen: {esc(freeze.describe())}</div>'


def _encode(params: dict[str, str]) -> str:
    return urllib.parse.urlencode(params)
