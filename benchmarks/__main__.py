"""Run the benchmarks: ``uv run python -m benchmarks [SUITE ...]`` (all when none is named)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

SUITES = ("middleware", "ingest", "query", "watch", "incident")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The suites to run (all when none is named) and whether to run them quickly."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    # No ``choices``: with nargs="*" Python 3.11 checks the empty default against them and
    # refuses a run that names no suite.
    parser.add_argument(
        "suites", nargs="*", metavar="suite", help=f"{', '.join(SUITES)}; default: all"
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    parser.add_argument(
        "--spans",
        type=int,
        metavar="N",
        help="query only: one day of N spans instead of its three standard runs",
    )
    args = parser.parse_args(argv)
    unknown = [suite for suite in args.suites if suite not in SUITES]
    if unknown:
        parser.error(f"no suite {', '.join(unknown)}: choose from {', '.join(SUITES)}")
    args.suites = args.suites or list(SUITES)
    if args.spans is not None and (args.spans < 4 or args.suites != ["query"]):
        parser.error("--spans takes 4 spans or more, with the query suite alone")
    return args


def main() -> None:
    args = parse()
    for suite in args.suites:
        module = importlib.import_module(f"benchmarks.{suite}")
        print(f"=== {suite}: {module.__doc__.strip().splitlines()[0]}")
        options: dict[str, object] = {"quick": True} if args.quick else {}
        if args.spans is not None:
            options["spans"] = args.spans
        module.run(**options)


if __name__ == "__main__":
    main()
