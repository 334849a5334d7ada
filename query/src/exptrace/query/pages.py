"""Read-only web pages over the same queries: experiments, reports, incidents, coverage."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from exptrace.ingest.store import StoreError
from exptrace.query import render
from exptrace.query.api import Queries, Window, json_safe
from exptrace.query.registry import Registry, RegistryError

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
pre { background: #f6f8fa; padding: 1rem; overflow-x: auto; }
nav a { margin-right: 1rem; }
"""
LASTS = {"15m": 15, "1h": 60, "6h": 360, "1d": 1440, "7d": 10080}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    nav = " ".join(
        f'<a href="/ui{path}">{label}</a>'
        for path, label in (
            ("", "experiments"),
            ("/incident", "incident"),
            ("/coverage", "coverage"),
            ("/propagation", "propagation"),
        )
    )
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - exptrace"
        f"</title><style>{STYLE}</style></head><body><nav>{nav}</nav>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status,
    )


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _window(request: Request) -> tuple[Window, str]:
    last = request.query_params.get("last", "1h")
    minutes = LASTS.get(last, 60)
    return Window.parse(last=dt.timedelta(minutes=minutes)), last if last in LASTS else "1h"


def _windows(path: str, current: str) -> str:
    links = " ".join(
        f"<b>{k}</b>" if k == current else f'<a href="{html.escape(path)}?last={k}">{k}</a>'
        for k in LASTS
    )
    return f"<p>window: {links}</p>"


def page_routes(
    queries: Queries, registry: Registry, authorized: Callable[[Request], bool]
) -> list[Route]:
    def guarded(build: Callable[[Request], tuple[str, str]]):
        async def handle(request: Request) -> HTMLResponse:
            if not authorized(request):
                return _page("Unauthorized", "<p>A bearer token is required.</p>", 401)
            try:
                title, body = await run_in_threadpool(build, request)
            except (RegistryError, ValueError) as error:
                return _page("Not found", f"<p>{html.escape(str(error))}</p>", 404)
            except StoreError as error:
                return _page("Store unavailable", _pre(str(error)[:500]), 503)
            return _page(title, body)

        return handle

    def experiments(request: Request) -> tuple[str, str]:
        rows = registry.list()
        items = "".join(
            f'<li><a href="/ui/experiments/{html.escape(e.id)}">{html.escape(e.id)}</a> '
            f"({html.escape(e.status)}, owner {html.escape(e.owner or '-')})</li>"
            for e in rows
        )
        return (
            "Experiments",
            f"<ul>{items}</ul>" if rows else "<p>No experiment registered yet.</p>",
        )

    def experiment(request: Request) -> tuple[str, str]:
        experiment_id = request.path_params["id"]
        window, last = _window(request)
        details = registry.get(experiment_id).to_dict()
        report = json_safe(queries.report(experiment_id, window))
        return f"Experiment {experiment_id}", (
            _windows(f"/ui/experiments/{experiment_id}", last)
            + _pre(render.report(report))
            + "<h2>Registry record</h2>"
            + _pre(render.rows([details]))
        )

    def incident(request: Request) -> tuple[str, str]:
        window, last = _window(request)
        return "Incident attribution", _windows("/ui/incident", last) + _pre(
            render.incident(json_safe(queries.incident(window)))
        )

    def coverage(request: Request) -> tuple[str, str]:
        window, last = _window(request)
        body = render.coverage(json_safe(queries.tagging_coverage(window)))
        body += "\n\n" + render.attribution(json_safe(queries.attribution(window)))
        return "Tagging coverage and attribution", _windows("/ui/coverage", last) + _pre(body)

    def propagation(request: Request) -> tuple[str, str]:
        window, last = _window(request)
        return "Propagation coverage", _windows("/ui/propagation", last) + _pre(
            render.propagation(json_safe(queries.propagation_coverage(window)))
        )

    return [
        Route("/ui", guarded(experiments), methods=["GET"]),
        Route("/ui/experiments/{id}", guarded(experiment), methods=["GET"]),
        Route("/ui/incident", guarded(incident), methods=["GET"]),
        Route("/ui/coverage", guarded(coverage), methods=["GET"]),
        Route("/ui/propagation", guarded(propagation), methods=["GET"]),
    ]
