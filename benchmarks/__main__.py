"""Run the benchmarks: ``uv run python -m benchmarks [middleware|ingest|query ...]``."""

from __future__ import annotations

import argparse
import importlib

SUITES = ("middleware", "ingest", "query", "watch")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=SUITES, help="default: all")
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    args = parser.parse_args()
    for suite in args.suites or SUITES:
        module = importlib.import_module(f"benchmarks.{suite}")
        print(f"=== {suite}: {module.__doc__.strip().splitlines()[0]}")
        module.run(**({"quick": True} if args.quick else {}))


if __name__ == "__main__":
    main()
