"""``exptrace``: run the collector, manage experiments, and ask which experiment did that."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from typing import Any

from exptrace.ingest import cli as ingest_cli
from exptrace.ingest.store import StoreError
from exptrace.propagation.settings import SettingsError
from exptrace.query import render
from exptrace.query.client import ApiClient, ClientError, LocalClient, api_answers

DEFAULT_API = "http://127.0.0.1:4318"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def duration(text: str) -> dt.timedelta:
    """``30s``, ``20m``, ``6h``, ``3d``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 20m, 6h or 3d")
    value, unit = float(match.group(1)), match.group(2)
    return dt.timedelta(
        **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: value}
    )


def add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", help="start (ISO 8601, UTC if no offset)")
    parser.add_argument("--to", dest="end", help="end (ISO 8601; default: now)")
    parser.add_argument("--last", type=duration, help="instead of --from: the last 20m, 6h, 3d...")


def window(args: argparse.Namespace) -> dict[str, str | None]:
    if getattr(args, "last", None):
        end = dt.datetime.now(dt.UTC)
        return {"start": (end - args.last).isoformat(), "end": end.isoformat()}
    return {"start": args.start, "end": args.end}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exptrace",
        description="Run the collector, manage experiments, and ask which experiment did that.",
    )
    parser.add_argument(
        "--api",
        default=os.environ.get("EXPTRACE_API_URL", DEFAULT_API),
        help="a running exptrace server (EXPTRACE_API_URL)",
    )
    parser.add_argument("--token", default=os.environ.get("EXPTRACE_TOKEN"), help="bearer token")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("EXPTRACE_DATA_DIR", "exptrace-data"),
        help="open this store directly when no server answers",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the OTLP collector and the HTTP API")
    ingest_cli.add_arguments(up)
    demo = sub.add_parser("demo", help="run services, experiments and traffic, then report")
    demo.add_argument("--requests", type=int, default=1200, help="requests to drive (default 1200)")
    demo.add_argument("--keep-data", action="store_true", help="keep the demo's data directory")

    exp = sub.add_parser("experiments", help="the experiment registry")
    exp_sub = exp.add_subparsers(dest="action", required=True)
    exp_sub.add_parser("list").add_argument("--status")
    actor = os.environ.get("USER", "cli")
    for action in ("show", "history"):
        exp_sub.add_parser(action).add_argument("id")
    for action in ("start", "stop", "archive"):
        changing = exp_sub.add_parser(action)
        changing.add_argument("id")
        changing.add_argument("--actor", default=actor, help="who makes the change (audit log)")
    create = exp_sub.add_parser("create")
    create.add_argument("--actor", default=actor, help="who makes the change (audit log)")
    create.add_argument("id")
    create.add_argument(
        "--variant", action="append", default=[], metavar="NAME=WEIGHT", required=True
    )
    create.add_argument("--control", default=None, help="control variant (default: the first)")
    create.add_argument("--name", default="")
    create.add_argument("--owner", default="")
    create.add_argument("--description", default="")
    create.add_argument("--artifact", action="append", default=[], metavar="VARIANT:KIND=VALUE")
    create.add_argument("--scope", action="append", default=[], metavar="SERVICE")
    create.add_argument("--slo", action="append", default=[], metavar="availability=0.999")

    report = sub.add_parser("report", help="every variant against control")
    report.add_argument("experiment")
    add_window(report)
    for name, text in (
        ("coverage", "tagging coverage"),
        ("propagation", "propagation coverage per hop"),
        ("attribution", "attribution completeness"),
        ("lag", "ingestion lag"),
        ("cardinality", "experiment and attribute cardinality"),
    ):
        add_window(sub.add_parser(name, help=text))
    incident = sub.add_parser("incident", help="which experiment broke things in a window")
    add_window(incident)
    incident.add_argument("--service", default="")
    incident.add_argument("--route", default="")
    burn = sub.add_parser("burn", help="SLO burn rates per experiment-variant")
    burn.add_argument("--at", help="evaluate at this time (default: now)")
    return parser


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ClientError(f"{what} {item!r} must look like NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _experiment(args: argparse.Namespace) -> dict[str, Any]:
    variants = {k: float(v) for k, v in _pairs(args.variant, "--variant").items()}
    artifacts: dict[str, dict[str, str]] = {}
    for item in args.artifact:
        variant, colon, rest = item.partition(":")
        if not colon:
            raise ClientError(f"--artifact {item!r} must look like VARIANT:KIND=VALUE")
        artifacts.setdefault(variant, {}).update(_pairs([rest], "--artifact"))
    return {
        "id": args.id,
        "name": args.name,
        "owner": args.owner,
        "description": args.description,
        "variants": variants,
        "control": args.control or next(iter(variants)),
        "artifacts": artifacts,
        "scope": args.scope,
        "slo": {k: float(v) for k, v in _pairs(args.slo, "--slo").items()},
    }


def connect(args: argparse.Namespace) -> ApiClient | LocalClient:
    if api_answers(args.api):
        return ApiClient(args.api, args.token)
    from exptrace.ingest.migrate import ensure_schema
    from exptrace.ingest.schema import Schema
    from exptrace.ingest.store import open_store

    store = open_store(f"chdb://{os.path.abspath(os.path.join(args.data_dir, 'store'))}")
    try:
        ensure_schema(store, Schema())
    except BaseException:
        store.close()
        raise
    return LocalClient(store)


def run(args: argparse.Namespace, client: ApiClient | LocalClient) -> Any:
    w = window(args) if hasattr(args, "start") else {}
    if args.command == "experiments":
        if args.action == "list":
            return client.call("experiments", status=args.status), render.experiments
        if args.action == "create":
            return client.call("create", experiment=_experiment(args), actor=args.actor), None
        if args.action == "history":
            return client.call("history", id=args.id), render.rows
        if args.action == "show":
            return client.call("experiment", id=args.id), None
        return client.call("set_status", id=args.id, action=args.action, actor=args.actor), None
    if args.command == "report":
        return client.call("report", id=args.experiment, **w), render.report
    if args.command == "incident":
        return client.call("incident", service=args.service, route=args.route, **w), render.incident
    if args.command == "burn":
        return client.call("burn", at=args.at), render.burn
    renderers = {
        "coverage": render.coverage,
        "propagation": render.propagation,
        "attribution": render.attribution,
        "lag": render.rows,
        "cardinality": render.rows,
    }
    return client.call(args.command, **w), renderers[args.command]


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command == "up":
        return up(args)
    if args.command == "demo":
        from exptrace.query.demo import run_demo

        return run_demo(requests=args.requests, keep_data=args.keep_data, as_json=args.json)
    client = None
    try:
        client = connect(args)
        result, renderer = run(args, client)
    except (ClientError, StoreError, SettingsError, ValueError) as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2
    finally:
        if isinstance(client, LocalClient):
            client.store.close()
    if args.json or renderer is None:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(renderer(result))
    return 0


def up(args: argparse.Namespace) -> int:
    """The collector plus the HTTP API, in one process that owns the store."""
    from exptrace.ingest.http_receiver import bearer_check
    from exptrace.query.api import Queries
    from exptrace.query.http_api import api_routes
    from exptrace.query.registry import Registry
    from exptrace.query.sqlfiles import views

    try:
        settings = ingest_cli.settings_from_args(args)
    except SettingsError as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2

    def prepare(server) -> None:
        server.add_views(views())
        registry = Registry(server.store)
        server.add_routes(
            api_routes(Queries(server.store, registry), registry, bearer_check(settings.token))
        )

    return ingest_cli.serve(settings, prepare)


if __name__ == "__main__":
    sys.exit(main())
