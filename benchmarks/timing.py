"""Interleaved timing rounds, so that noise on a shared machine hits every variant alike."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def compare(
    variants: dict[str, Callable[[int], None]], calls: int, rounds: int
) -> dict[str, float]:
    """Median seconds per call of each variant; ``fn(n)`` must make ``n`` calls."""
    for fn in variants.values():
        fn(max(1, calls // 10))  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn(calls)
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def run_script(script: str, name: str, *args: object) -> tuple[str, list[str]]:
    """Run a benchmark ``script`` in a fresh Python process (one engine, nothing cached) over
    a scratch directory it gets as its first argument; what it printed before its ``RESULT``
    line, and that line's words."""
    work = tempfile.mkdtemp(prefix=f"exptrace-{name}-bench-")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, work, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the {name} benchmark failed:\n{done.stderr[-3000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    before, _, result = done.stdout.partition("RESULT")
    return before.strip(), result.split()
