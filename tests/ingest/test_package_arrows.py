"""Inside ``exptrace.ingest`` the packages import one way: door -> log -> store <- schema.

``errors``, ``stats`` and ``defaults`` are leaves every package may import (their own imports
of the log are for type checking only); the top-level modules (``server``, ``cli``,
``settings``...) wire the packages together and are imported by none of them. Other packages
use a package through the names its ``__init__`` exports, never a module inside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "ingest" / "src" / "exptrace" / "ingest"
PACKAGES = {"door": {"log"}, "log": {"store"}, "store": set(), "schema": {"store"}}
LEAVES = {"errors", "stats", "defaults"}


def _runtime_imports(path: Path) -> set[str]:
    """The ``exptrace.ingest...`` names a module imports when it runs (``if TYPE_CHECKING:``
    blocks left out), each as ``exptrace.ingest.<module>[.<name>]``."""
    tree = ast.parse(path.read_text())
    checking = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and id(node) not in checking
            and (node.module or "").startswith("exptrace.ingest")
        ):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _where(name: str) -> tuple[str, str]:
    """(the package or top-level module a name lives in, the part after it)."""
    first, _, rest = name.removeprefix("exptrace.ingest.").partition(".")
    return first, rest


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_the_packages_below_it_and_the_leaves(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _runtime_imports(path):
            target, rest = _where(name)
            if target == package or target in LEAVES:
                continue
            if target not in PACKAGES[package]:
                wrong.append(f"{path.name} imports {name}")
            elif "." in rest:  # through the package's __init__ only
                wrong.append(f"{path.name} imports {name} from inside {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_the_leaves_import_no_other_part_of_ingest_at_run_time(leaf):
    assert _runtime_imports(ROOT / f"{leaf}.py") == set()


def test_a_top_level_module_uses_a_package_through_its_init():
    wrong = [
        f"{path.name} imports {name}"
        for path in sorted(ROOT.glob("*.py"))
        for name in _runtime_imports(path)
        if _where(name)[0] in PACKAGES and "." in _where(name)[1]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_wrong_arrow(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing import TYPE_CHECKING\n"
        "from exptrace.ingest.door.intake import Intake\n"
        "if TYPE_CHECKING:\n    from exptrace.ingest.log import Signal\n"
    )
    assert _runtime_imports(wrong) == {"exptrace.ingest.door.intake.Intake"}
    assert _where("exptrace.ingest.door.intake.Intake") == ("door", "intake.Intake")
