"""The arrows run one way: propagation <- ingest <- query.

The uv workspace installs all three distributions into one environment, so an import
against the arrow would work here and break for a service that installs
`exptrace-propagation` alone. This test reads every module's imports from its source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each layer and the exptrace layers it may not import.
FORBIDDEN = {
    "propagation": ("exptrace.ingest", "exptrace.query"),
    "ingest": ("exptrace.query",),
    "query": (),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer_sources(layer: str) -> list[Path]:
    return sorted((ROOT / layer / "src" / "exptrace").rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_against_the_arrow(layer):
    sources = layer_sources(layer)
    assert sources, f"no sources found for {layer}"
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[layer])
    )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_other_distributions_are_used_through_their_public_api(layer):
    """``exptrace.ingest`` and ``exptrace.propagation`` name what others may use in their
    ``__all__``; a module of another distribution imports those names, never a module inside."""
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in layer_sources(layer)
        for name in imported_modules(path)
        for other in FORBIDDEN
        if other != layer
        and name.startswith(f"exptrace.{other}.")
        and name.removeprefix(f"exptrace.{other}.") not in public_names(other)
    )
    assert not wrong, "\n".join(wrong)


def public_names(layer: str) -> set[str]:
    """The names in a distribution's ``__all__``, read from its ``__init__``."""
    init = ROOT / layer / "src" / "exptrace" / layer / "__init__.py"
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{init} declares no __all__")


def test_the_check_sees_a_wrong_import(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from exptrace.query.api import Queries\nimport exptrace.ingest.log.wal\n")
    assert {"exptrace.query.api", "exptrace.ingest.log.wal"} <= imported_modules(wrong)
