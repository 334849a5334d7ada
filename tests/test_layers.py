"""The arrows of ARCHITECTURE.md, enforced: propagation <- ingest <- query, and inside each
distribution the arrows between its layers.

The uv workspace installs all three distributions into one environment, so an import
against the arrow would work here and break for a service that installs
`exptrace-propagation` alone. This test reads every module's imports from its source and
the arrows from the table in ARCHITECTURE.md, so the picture and the code cannot drift.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ("propagation", "ingest", "query")


def layers() -> dict[str, set[str]]:
    """Each package in ARCHITECTURE.md's table and the packages it may import."""
    table = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`exptrace[\w.]*`", cells[0]):
            table[cells[0].strip("`")] = set(re.findall(r"`(exptrace[\w.]*)`", cells[2]))
    assert table, "ARCHITECTURE.md has no table of arrows"
    return table


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[parts.index("src") + 1 :]).removesuffix(".__init__")


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """Module names (``module.name`` for each name taken from a module) that ``path`` imports
    when it runs: relative imports resolved, ``if TYPE_CHECKING:`` blocks left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module or module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for_types = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in for_types:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def sources() -> list[Path]:
    return sorted(
        path for name in DISTRIBUTIONS for path in (ROOT / name / "src" / "exptrace").rglob("*.py")
    )


def owner(module: str, table: dict[str, set[str]]) -> str | None:
    """The layer a module belongs to: the longest package of the table that holds it."""
    holders = [name for name in table if module == name or module.startswith(name + ".")]
    return max(holders, key=len, default=None)


def wrong_arrows(path: Path, module: str, table: dict[str, set[str]]) -> list[str]:
    """The imports of one source file that the table does not draw."""
    here = owner(module, table)
    wrong = []
    for name in sorted(imported_modules(path, module)):
        there = owner(name, table)
        if there is None or there == here:
            continue
        if path.name == "__main__.py" and there.startswith(f"{here}."):
            continue  # ``python -m`` runs what the package holds
        if there not in table[here]:
            wrong.append(f"{module} ({here}) imports {name} ({there})")
        elif not through_its_init(name, there, module):
            wrong.append(f"{module} ({here}) imports {name}, not a name in {there}.__all__")
    return wrong


def through_its_init(name: str, layer: str, module: str) -> bool:
    """Whether ``name``, of another layer, is that layer or a name its ``__init__`` exports
    (a layer that is a module, not a package, has no inside to keep)."""
    init = package_init(layer)
    if init is None or module.startswith(f"{layer}."):
        return True
    return name == layer or name.removeprefix(f"{layer}.") in (public_names(init) or set())


def package_init(name: str) -> Path | None:
    """The ``__init__.py`` of package ``name``, or None when ``name`` is a module."""
    distribution = name.split(".")[1]
    init = ROOT.joinpath(distribution, "src", *name.split("."), "__init__.py")
    return init if init.exists() else None


def test_every_package_is_in_the_picture():
    table = layers()
    packages = {module_name(path) for path in sources() if path.name == "__init__.py"}
    assert sorted(packages - set(table)) == [], "packages ARCHITECTURE.md does not draw"
    modules = {module_name(path) for path in sources()}
    assert sorted(set(table) - modules) == [], "ARCHITECTURE.md draws what is gone"


def test_no_module_imports_against_the_arrows():
    table = layers()
    wrong = [line for path in sources() for line in wrong_arrows(path, module_name(path), table)]
    assert not wrong, "\n".join(wrong)


def test_the_arrows_have_no_cycle():
    table = layers()
    done: set[str] = set()

    def walk(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join([*path, name])
        if name not in done:
            for target in table[name]:
                walk(target, (*path, name))
            done.add(name)

    for name in table:
        walk(name, ())


def test_every_package_says_what_it_holds_and_names_its_api():
    for path in sources():
        if path.name == "__init__.py":
            tree = ast.parse(path.read_text())
            assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no docstring"
            assert public_names(path) is not None, f"{path.relative_to(ROOT)} has no __all__"


def public_names(init: Path) -> set[str] | None:
    """The names in a package's ``__all__``, read from its ``__init__`` (or from the package
    whose ``__all__`` it takes over)."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "__all__" for a in node.names):
            source = init.parents[len(module_name(init).split("."))]
            return public_names(source.joinpath(*node.module.split("."), "__init__.py"))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


def test_the_check_sees_a_wrong_arrow(tmp_path):
    table = layers()
    source = tmp_path / "wrong.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from exptrace.query.web import pages\n"
        "from exptrace.ingest.server import IngestServer\n"
        "from ..errors import QueryError\n"
        "import exptrace.ingest.log.wal\n"
        "if TYPE_CHECKING:\n"
        "    from exptrace.query.cli import main\n"
    )
    wrong = wrong_arrows(source, "exptrace.query.core.wrong", table)
    assert wrong == [
        "exptrace.query.core.wrong (exptrace.query.core) imports exptrace.ingest.log.wal "
        "(exptrace.ingest.log)",
        "exptrace.query.core.wrong (exptrace.query.core) imports "
        "exptrace.ingest.server.IngestServer, not a name in exptrace.ingest.__all__",
        "exptrace.query.core.wrong (exptrace.query.core) imports exptrace.query.web.pages "
        "(exptrace.query.web)",
    ]
