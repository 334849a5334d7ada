"""What a missing Chromium means to the page tests: outside CI a skip; in CI (``CI=true``) a
failure, since ``.ci/run`` installs the browser. The browser itself is
``benchmarks/browser.py``, which the screenshots use too."""

from __future__ import annotations

import os

import pytest

from benchmarks.browser import CHROMIUM, find_chromium


def chromium_path() -> str:
    found = find_chromium()
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip("no chromium on this machine (apt-get install chromium); CI installs it")
