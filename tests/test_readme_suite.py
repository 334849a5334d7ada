"""The README's Development section counts the tests it describes: how many there are and
how many are marked slow, as pytest collects them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collected(marker: str) -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            marker,
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    ).stdout
    found = re.search(r"(\d+)(?:/\d+)? tests collected", out)
    assert found, out[-2000:]
    return int(found.group(1))


def test_the_readme_counts_the_tests_and_the_slow_ones():
    readme = (ROOT / "README.md").read_text()
    said = re.search(r"Tests marked `slow` \((\d+) of (\d+)\)", readme)
    assert said, "the README's Development section no longer counts the tests"
    assert (int(said[1]), int(said[2])) == (collected("slow"), collected("slow or not slow"))
