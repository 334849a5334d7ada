"""``exptrace``: run the collector, manage experiments, and ask which experiment did that."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from exptrace import ingest
from exptrace.ingest import DATA_DIR, HTTP_ENDPOINT, LOOPBACK_HOSTS, UNIT_ATTRIBUTES, StoreError
from exptrace.propagation import UNIT_MEMBER, SettingsError, setting, settings_from_env
from exptrace.query.cli.client import ApiClient, Client, LocalClient, api_answers
from exptrace.query.core import (
    ACTIONS,
    ATTRIBUTION,
    BURN,
    CARDINALITY,
    COVERAGE,
    DECISIONS,
    DEFAULT_LAST,
    DEFAULT_LIMIT,
    INCIDENT,
    LAG,
    MAX_LIMIT,
    OPERATIONS,
    POLICIES,
    PROPAGATION,
    REPORT,
    SEEN,
    SLOS,
    STATUSES,
    Experiment,
    Operation,
    Page,
    Rows,
    parse_moment,
    parse_window,
)
from exptrace.query.errors import ClientError
from exptrace.query.text import render, render_act, render_watch

DEFAULT_API = f"http://{HTTP_ENDPOINT}"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNSET = argparse.SUPPRESS


@dataclass(frozen=True)
class CliSettings:
    """Where a command reads from; flags beat ``EXPTRACE_API_URL``, ``EXPTRACE_TOKEN`` and
    ``EXPTRACE_DATA_DIR``.

    ``api_url`` set: only that server answers. ``data_dir`` set: only the store already in
    that directory answers. Neither: the server at :data:`DEFAULT_API` if it answers, else a
    store already in ``./exptrace-data``.
    """

    api_url: str | None = field(default=None, metadata=setting(env="EXPTRACE_API_URL"))
    token: str | None = field(default=None, metadata=setting(env="EXPTRACE_TOKEN"))
    data_dir: str | None = field(default=None, metadata=setting(env="EXPTRACE_DATA_DIR"))

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: dict[str, str] | None = None
    ) -> CliSettings:
        api_flag = getattr(args, "api_url", None)
        dir_flag = getattr(args, "data_dir", None)
        if api_flag and dir_flag:
            raise SettingsError("give --api or --data-dir, not both: they name different stores")
        env = settings_from_env(cls, environ)
        token = getattr(args, "token", None) or env.token
        if api_flag or dir_flag:
            return cls(api_url=api_flag, token=token, data_dir=None if api_flag else dir_flag)
        return cls(api_url=env.api_url, token=token, data_dir=None if env.api_url else env.data_dir)


class Parser(argparse.ArgumentParser):
    """Usage errors in one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def duration(text: str) -> dt.timedelta:
    """``30s``, ``20m``, ``6h``, ``3d``: longer than zero."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 20m, 6h or 3d")
    value, unit = float(match.group(1)), match.group(2)
    try:
        length = dt.timedelta(
            **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: value}
        )
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than any window can be") from None
    if length <= dt.timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is no time at all: give a duration above 0")
    return length


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of at least 1")
    return value


def _variant(text: str) -> tuple[str, float]:
    name, eq, weight = text.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not eq or not name.strip() or not value >= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like NAME=WEIGHT with a weight >= 0, e.g. control=50"
        )
    return name.strip(), value


def _artifact(text: str) -> tuple[str, str, str]:
    variant, colon, rest = text.partition(":")
    kind, eq, value = rest.partition("=")
    if not colon or not eq or not variant.strip() or not kind.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like VARIANT:KIND=VALUE, e.g. B:model=ranker-v7"
        )
    return variant.strip(), kind.strip(), value.strip()


def _slo(text: str) -> tuple[str, float]:
    name, _, target = text.partition("=")
    try:
        value = float(target)
    except ValueError:
        value = float("nan")
    if name.strip() not in SLOS or value != value:  # NaN: no number given
        raise argparse.ArgumentTypeError(
            f"{text!r} must be availability=0.999 (share of requests that succeed), "
            "latency_p95_ms=300 (milliseconds), error_rate_margin=0.2 or latency_margin=0.05 "
            "(guardrails, relative to control) or expected_units=20000 (the planned horizon)"
        )
    return name.strip(), value


def _global_options(json_only: bool = False) -> argparse.ArgumentParser:
    """Flags every read/write command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("where to read (before or after the command)")
    if not json_only:
        group.add_argument(
            "--api",
            dest="api_url",
            metavar="URL",
            default=_UNSET,
            help="ask this exptrace server's HTTP API and nothing else (env EXPTRACE_API_URL; "
            f"default: {DEFAULT_API} if it answers, else the store in ./{DATA_DIR})",
        )
        group.add_argument(
            "--data-dir",
            metavar="DIR",
            default=_UNSET,
            help="read the store already in DIR/store, even when a server answers; never "
            "creates one (env EXPTRACE_DATA_DIR; default: used only when no server answers)",
        )
        group.add_argument(
            "--token",
            default=_UNSET,
            help="bearer token for the API (env EXPTRACE_TOKEN; default: none)",
        )
    group.add_argument(
        "--json",
        action="store_true",
        default=_UNSET,
        help="print JSON instead of tables (default: tables)",
    )
    return common


def _add_window(parser: argparse.ArgumentParser, whole_run: bool = False) -> None:
    """``whole_run``: without --from, --last and --to the answer covers the experiment's
    whole run (the report); otherwise the last hour."""
    default = "the experiment's whole run" if whole_run else "--last before --to"
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help=f"window start, ISO 8601, UTC unless it has an offset (default: {default})",
    )
    choice.add_argument(
        "--last",
        type=duration,
        metavar="DURATION",
        help="window length ending at --to: 20m, 6h, 3d... (default: "
        + ("the whole run; with --to alone, 1h)" if whole_run else "1h)"),
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        help="window end, ISO 8601 (default: now"
        + (", or the experiment's stop)" if whole_run else ")"),
    )


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="exptrace",
        description="Run the collector, manage experiments, and ask which experiment did that.",
        parents=[_global_options()],
    )
    common = [_global_options()]
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run the OTLP collector, the HTTP API and the web pages",
        description="Run the OTLP collector, the HTTP API (/api/v1) and the web pages (/ui) in "
        "one process that owns the store. Listens on 127.0.0.1 unless told otherwise.",
    )
    ingest.add_arguments(up)
    ingest.add_setting(
        up,
        "watch_interval",
        "seconds between the watcher's rounds over running experiments, 0 turns it off",
        type=float,
        metavar="SECONDS",
    )
    for name, text, default in (
        ("alertmanager_url", "Alertmanager's URL: alerts go to /api/v2/alerts", None),
        ("alert_webhook_url", "a URL taking Alertmanager's webhook format", None),
        ("external_url", "the pages' base URL for alert links", "the listening address"),
    ):
        ingest.add_setting(up, name, text, default, metavar="URL")
    demo = sub.add_parser(
        "demo",
        help="run services, experiments and traffic, then report",
        parents=[_global_options(json_only=True)],
    )
    demo.add_argument(
        "--requests", type=_positive, default=1200, help="requests to drive (default 1200)"
    )
    demo.add_argument(
        "--keep-data", action="store_true", help="keep the demo's data directory (default: remove)"
    )

    actor = os.environ.get("USER", "cli")
    actor_help = f"who makes the change, for the audit log (default: $USER, here {actor!r})"
    exp = sub.add_parser("experiments", help="the experiment registry", parents=common)
    exp_sub = exp.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = exp_sub.add_parser("list", help="registered experiments", parents=common)
    listing.add_argument(
        "--status", choices=STATUSES, help="only experiments in this status (default: all)"
    )
    for action, text in (("show", "one experiment"), ("history", "its changes, old -> new")):
        exp_sub.add_parser(action, help=text, parents=common).add_argument(
            "id", help="experiment id"
        )
    for action in ACTIONS:
        changing = exp_sub.add_parser(action, help=f"{action} an experiment", parents=common)
        changing.add_argument("id", help="experiment id")
        changing.add_argument("--actor", default=actor, help=actor_help)
    rollback = exp_sub.add_parser(
        "rollback", help="send a variant's units (every treatment's) to control", parents=common
    )
    rollback.add_argument("id", help="experiment id")
    rollback.add_argument("--variant", help="the treatment to roll back (default: every treatment)")
    decide = exp_sub.add_parser("decide", help="log a decision on an experiment", parents=common)
    decide.add_argument("id", help="experiment id")
    decide.add_argument("decision", choices=DECISIONS, help="what was decided")
    exp_sub.add_parser(
        "decisions", help="time to decision per experiment, and on average", parents=common
    )
    policy = exp_sub.add_parser(
        "policy", help="what the watcher does when a variant fails", parents=common
    )
    policy.add_argument("id", help="experiment id")
    policy.add_argument(
        "policy",
        choices=POLICIES,
        help="notify: report and alert (the default); rollback: also roll the variant back "
        "and log the decision",
    )
    policy.add_argument("--actor", default=actor, help=actor_help)
    watch = sub.add_parser(
        "watch",
        help="evaluate running experiments since their start, on a schedule; or show its state",
        description="run: a watch round every --every (on the server named by --api, or on "
        "the store in --data-dir); state: each rule's state and what fires; history: every "
        "change of state, newest first.",
        parents=common,
    )
    watch.add_argument(
        "what",
        nargs="?",
        choices=("run", "state", "history"),
        default="run",
        help="run rounds, or show the state or the history (default: run)",
    )
    watch.add_argument(
        "--experiment", default="", help="state and history of this experiment (default: all)"
    )
    watch.add_argument(
        "--every",
        type=duration,
        default=dt.timedelta(seconds=60),
        metavar="DURATION",
        help="time between rounds: 30s, 5m... (default 60s)",
    )
    watch.add_argument("--once", action="store_true", help="one round, then exit")
    _add_page(watch, "changes of state (history), newest first")
    freeze = sub.add_parser("freeze", help="no experiment may start until unfreeze", parents=common)
    unfreeze = sub.add_parser("unfreeze", help="let experiments start again", parents=common)
    for acting in (rollback, decide, freeze, unfreeze):
        required = acting is not unfreeze
        acting.add_argument(
            "--reason",
            required=required,
            default="",
            help="why, for the log" + ("" if required else " (default: none)"),
        )
        acting.add_argument("--actor", default=actor, help=actor_help)
    create = exp_sub.add_parser("create", help="register an experiment (a draft)", parents=common)
    create.add_argument("id", help="experiment id: letters, digits, '.', '_' or '-'")
    create.add_argument(
        "--variant",
        type=_variant,
        action="append",
        metavar="NAME=WEIGHT",
        help="a variant and its traffic weight; repeat for each variant "
        "(default: control=50 and treatment=50, as the HTTP API)",
    )
    create.add_argument(
        "--control", default="", help="the variant others are compared with (default: the first)"
    )
    create.add_argument("--name", default="", help="a readable name (default: none)")
    create.add_argument("--owner", default="", help="owning team or person (default: none)")
    create.add_argument("--description", default="", help="what is tested (default: none)")
    create.add_argument(
        "--artifact",
        type=_artifact,
        action="append",
        default=[],
        metavar="VARIANT:KIND=VALUE",
        help="what a variant runs, e.g. B:model=ranker-v7 or B:image=shop:2.1; repeatable",
    )
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SERVICE",
        help="a service the experiment runs in; repeatable (default: any service)",
    )
    create.add_argument(
        "--slo",
        type=_slo,
        action="append",
        default=[],
        metavar="NAME=TARGET",
        help="availability=0.999, latency_p95_ms=300, error_rate_margin=0.2, "
        "latency_margin=0.05 or expected_units=20000; repeatable (default: burn rates use "
        "availability 0.999; a report passes a variant at most 20%% more errors and 5%% "
        "slower than control; without expected_units no planned horizon)",
    )
    create.add_argument(
        "--unit",
        default=UNIT_MEMBER,
        choices=UNIT_ATTRIBUTES,
        metavar="ATTRIBUTE",
        help=f"the span attribute naming the randomization unit: {UNIT_MEMBER} (the "
        "middleware's keyed hash, the default) or one of "
        f"{', '.join(a for a in UNIT_ATTRIBUTES if a != UNIT_MEMBER)} (the attributes the "
        f"request facts keep); any other id can travel as {UNIT_MEMBER}",
    )
    create.add_argument("--actor", default=actor, help=actor_help)

    for op in OPERATIONS:
        if op.help:  # the others are HTTP and Python only
            _add_operation(sub.add_parser(op.name, help=op.help, parents=common), op)
    return parser


def _add_operation(parser: argparse.ArgumentParser, op: Operation) -> None:
    """The command of one query operation: its parameters as arguments, in the table's order
    (those without words for people, such as thresholds, stay HTTP and Python only)."""
    parser.set_defaults(operation=op)
    for param in op.params:
        if param.in_path:
            parser.add_argument(param.name, metavar="experiment", help=param.help)
        elif param.name == "start":
            _add_window(parser, whole_run=op.whole_run)
        elif param.name == "limit":
            _add_page(parser, param.help)
        elif param.kind == "flag" and param.help:
            parser.add_argument(f"--{param.name}", action="store_true", help=param.help)
        elif param.kind == "moment":
            parser.add_argument(f"--{param.name}", metavar="TIME", help=param.help)
        elif param.help:
            parser.add_argument(f"--{param.name}", default=param.default, help=param.help)


def _add_page(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N {what} (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    )
    parser.add_argument(
        "--offset", type=int, default=0, metavar="N", help="skip the first N (default 0)"
    )


def window(args: argparse.Namespace) -> dict[str, str]:
    """The command's window as UTC times, checked here before anything is asked."""
    w = parse_window(args.start, args.end, last=DEFAULT_LAST if args.last is None else args.last)
    return {"start": w.start, "end": w.end}


def _experiment(args: argparse.Namespace) -> dict[str, Any]:
    given = args.variant or []
    if len(dict(given)) != len(given):
        raise ClientError("each --variant must be named once")
    variants = dict(given) or Experiment(args.id).variants
    artifacts: dict[str, dict[str, str]] = {}
    for variant, kind, value in args.artifact:
        artifacts.setdefault(variant, {})[kind] = value
    return {
        "id": args.id,
        "name": args.name,
        "owner": args.owner,
        "description": args.description,
        "variants": variants,
        "control": args.control,
        "artifacts": artifacts,
        "scope": args.scope,
        "slo": dict(args.slo),
        "unit": args.unit,
    }


def connect(settings: CliSettings) -> ApiClient | LocalClient:
    """The server or store ``settings`` name; never a store nobody asked for, never DDL."""
    if settings.api_url:
        client = ApiClient(settings.api_url, settings.token)
        client.check()
        return client
    if settings.data_dir:
        return LocalClient.open_existing(settings.data_dir)
    if api_answers(DEFAULT_API):
        return ApiClient(DEFAULT_API, settings.token)
    try:
        return LocalClient.open_existing(DATA_DIR)
    except ClientError:
        raise ClientError(
            f"no exptrace server answers at {DEFAULT_API} and ./{DATA_DIR} holds no "
            "store: start one with `exptrace up`, or name one with --api or --data-dir"
        ) from None


def checked_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The command's window or moment and page, refused before any server or store is asked."""
    checked: dict[str, Any] = {}
    operation = getattr(args, "operation", None)
    whole_run = (
        operation is not None
        and operation.whole_run
        and args.start is args.last is args.end is None
    )
    if hasattr(args, "start") and not whole_run:
        checked = window(args)
    elif getattr(args, "at", None):
        checked = {"at": parse_moment(args.at)}
    if hasattr(args, "limit"):
        checked.update(Page(args.limit, args.offset).params())
    return checked


RENDERERS: dict[Operation, Callable[[Any], str]] = {
    REPORT: render.report,
    COVERAGE: render.coverage,
    PROPAGATION: render.propagation,
    ATTRIBUTION: render.attribution,
    LAG: render.lag,
    CARDINALITY: render.cardinality,
    INCIDENT: render.incident,
    SEEN: render.seen,
    BURN: render.burn,
}
"""How each query command's answer reads as text."""


def run(args: argparse.Namespace, client: Client, w: dict[str, Any]) -> Any:
    """The command's answer and the function that renders it as text."""
    if args.command == "experiments":
        if args.action == "list":
            return client.experiments(status=args.status), render.experiments
        if args.action == "create":
            return client.create(_experiment(args), args.actor), render.experiment
        if args.action == "history":
            return client.history(args.id), render.history
        if args.action == "show":
            return client.experiment(args.id), render.experiment
        if args.action == "rollback":
            answer = client.rollback(args.id, args.variant, args.reason, args.actor)
            return answer, render_act.rollback
        if args.action == "decide":
            answer = client.decide(args.id, args.decision, args.reason, args.actor)
            return answer, render_act.decision
        if args.action == "decisions":
            return client.decisions(), render_act.decisions
        if args.action == "policy":
            return client.policy(args.id, args.policy, args.actor), render_watch.policy
        return client.set_status(args.id, args.action, args.actor), render.experiment
    if args.command == "watch":
        if args.what == "state":
            return client.watch_state(args.experiment), render_watch.state
        history = client.watch_history(args.experiment, w["limit"], w["offset"])
        return history, render_watch.history
    if args.command == "freeze":
        return client.freeze(args.reason, args.actor), render_act.freeze
    if args.command == "unfreeze":
        return client.unfreeze(args.reason, args.actor), render_act.freeze
    op: Operation = args.operation
    given = {p.name: getattr(args, p.name) for p in op.params if hasattr(args, p.name)}
    return client.query(op, **{**given, **w}), RENDERERS[op]


def _cut(result: Any) -> dict[str, Any] | None:
    """Where a cut list's page lies (a list, or an incident's ranking), else None."""
    if isinstance(result, Rows):
        return result.overflow() if result.truncated else None
    ranked = (result.get("overflow") or {}).get("ranked") if isinstance(result, dict) else None
    return ranked if ranked and ranked["truncated"] else None


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command == "up":
        return up(args)
    as_json = getattr(args, "json", False)
    if args.command == "demo":
        from exptrace.query.demo import run_demo

        return run_demo(requests=args.requests, keep_data=args.keep_data, as_json=as_json)
    client = None
    try:
        times = checked_arguments(args)
        client = connect(CliSettings.from_args(args))
        if args.command == "watch" and args.what == "run":
            return watch(client, args.every, as_json, once=args.once)
        result, renderer = run(args, client, times)
        text = json.dumps(result, indent=2, default=str) if as_json else renderer(result)
        cut = _cut(result)
        if as_json and cut:
            print(f"exptrace: {render.overflow(cut)}", file=sys.stderr)
    except (ClientError, StoreError, SettingsError, ValueError) as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2
    finally:
        if isinstance(client, LocalClient):
            client.store.close()
    return _emit(text)


def watch(client: Client, every: dt.timedelta, as_json: bool, *, once: bool) -> int:
    """Watch rounds every ``every`` until interrupted (or one with ``once``), each printed."""
    from exptrace.query.core import WatchLoop

    def round_() -> None:
        outcome = client.watch_round()
        text = json.dumps(outcome, default=str) if as_json else render_watch.round_(outcome)
        print(text, flush=True)

    if once:
        round_()
        return 0
    loop = WatchLoop(round_, every.total_seconds()).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        loop.stop()
    return 0


def _emit(text: str) -> int:
    """Print the answer; a reader that goes away early (``| head``) is not a crash."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("exptrace: output closed before the answer was printed", file=sys.stderr)
        return 2
    return 0


def up(args: argparse.Namespace) -> int:
    """The collector plus the HTTP API, in one process that owns the store."""
    from exptrace.ingest import bearer_check, split_endpoint
    from exptrace.query.core import Queries, Registry, Watcher, schema_parts
    from exptrace.query.service import attach
    from exptrace.query.web import Hosts, api_routes

    try:
        settings = ingest.settings_from_args(args)
    except SettingsError as error:
        print(f"exptrace: {error}", file=sys.stderr)
        return 2

    def prepare(server) -> None:
        registry = Registry(server.store)
        hosts = Hosts.of(split_endpoint(settings.http_endpoint)[0], settings.allowed_hosts)
        queries = Queries(server.store, registry)
        watcher = Watcher(queries, registry)
        routes = api_routes(
            queries,
            registry,
            bearer_check(settings.token),
            hosts,
            watcher=watcher,
            failures=server.failures,
        )
        server.add_routes(routes)
        attach(server, settings, watcher)

    def announce(server) -> None:
        hosts = {split_endpoint(e)[0] for e in (settings.grpc_endpoint, settings.http_endpoint)}
        base = settings.http_url(server.http_port)
        where = (
            "listening on 127.0.0.1 only (--grpc/--http 0.0.0.0:PORT for all interfaces)"
            if hosts <= set(LOOPBACK_HOSTS)
            else f"listening on {', '.join(sorted(hosts))}: reachable beyond this machine"
        )
        print(f"exptrace: web pages {base}/ui, HTTP API {base}/api/v1; {where}", flush=True)

    return ingest.serve(settings, prepare, announce, **schema_parts())
