"""Interleaved timing rounds, so that noise on a shared machine hits every variant alike."""

from __future__ import annotations

import statistics
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
