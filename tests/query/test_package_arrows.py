"""Inside ``exptrace.query`` the arrows run one way: core <- service, web <- cli, demo.

``core`` computes and knows no surface; ``web`` and ``service`` build on ``core``; ``cli``
builds on ``core``, and only its dispatcher (``cli/commands.py``) reaches further, to start
what a command names: ``web`` and ``service`` for ``exptrace up``, ``demo`` for ``exptrace
demo``. ``demo`` may use everything. Read from the source, like ``tests/test_layers.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_layers import imported_modules

PACKAGE = Path(__file__).resolve().parents[2] / "query" / "src" / "exptrace" / "query"
SUBPACKAGES = ("core", "web", "service", "cli", "demo")
FORBIDDEN = {
    "core": ("web", "service", "cli", "demo"),
    "web": ("service", "cli", "demo"),
    "service": ("web", "cli", "demo"),
    "cli": (),
    "demo": (),
}
# The one module of cli that starts other subpackages' work (``exptrace up``, ``exptrace demo``).
DISPATCHER = "cli/commands.py"


def _imports_of(path: Path) -> set[str]:
    return {n for n in imported_modules(path) if n.startswith("exptrace.query.")}


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackages_import_only_along_the_arrows(sub):
    wrong = []
    for path in sorted((PACKAGE / sub).rglob("*.py")):
        banned = FORBIDDEN[sub]
        if sub == "cli" and str(path.relative_to(PACKAGE)) != DISPATCHER:
            banned = (*banned, "web", "service", "demo")
        wrong += [
            f"{path.relative_to(PACKAGE)} imports {name}"
            for name in _imports_of(path)
            if name.split(".")[2] in banned
        ]
    assert not wrong, "\n".join(sorted(wrong))


def test_every_subpackage_names_its_public_api():
    for sub in SUBPACKAGES:
        text = (PACKAGE / sub / "__init__.py").read_text()
        assert text.startswith('"""') and "__all__" in text, sub
