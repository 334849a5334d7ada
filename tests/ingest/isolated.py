"""Run a few lines against an embedded store in a process of their own.

The embedded engine serves one store per process (and one process per store), so tests that
need a store other than the session's, or a store a receiver process used, go through here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(store: Path, code: str, *, open_store: bool = True) -> object:
    """Run ``code`` in a fresh process (with ``store`` open as ``s`` unless ``open_store`` is
    false); returns the last line it printed, decoded as JSON."""
    prelude = "import json\nfrom tests.ingest import collector\n"
    if open_store:
        prelude += f"from exptrace.ingest.store.backends import open_store\ns = open_store({f'chdb://{store}'!r})\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
