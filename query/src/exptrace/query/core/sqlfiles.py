"""The query layer's SQL: one ``.sql`` file per query under ``sql/``, shipped with the package.

``sql/tables/`` holds the ``CREATE TABLE`` of each table the query layer alone reads and
writes (the registry's logs); ingest renders and creates them (:func:`schema_parts`).

A file's parameters are its ``{name:Type}`` placeholders, declared once there: the Python
API, the HTTP API and the CLI bind values to them, never text. A file whose first line is
``-- with: <fragment>`` starts with that fragment's common table expressions (a fragment may
start with another).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from exptrace.query.errors import MissingParameters

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")
_WITH = re.compile(r"^-- with: ([a-z_]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SqlFile:
    """One query's text and the parameters it declares (name -> ClickHouse type)."""

    name: str
    text: str
    parameters: dict[str, str]

    def bind(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values this query takes, checked against what it declares."""
        missing = sorted(set(self.parameters) - set(values))
        if missing:
            raise MissingParameters(f"{self.name} needs {', '.join(missing)}")
        return {k: values[k] for k in self.parameters}


def _read(name: str) -> str:
    return (
        files("exptrace.query.core")
        .joinpath("sql")
        .joinpath(f"{name}.sql")
        .read_text(encoding="utf-8")
    )


def _expressions(name: str) -> str:
    """The common table expressions of ``name`` and, first, of the fragment it starts with."""
    text = _read(name).strip()
    found = _WITH.search(text)
    return f"{_expressions(found.group(1))},\n{text}" if found else text


@cache
def load(name: str) -> SqlFile:
    """The query ``sql/<name>.sql``, with its fragment (and the fragment's) prepended."""
    text = _read(name)
    found = _WITH.search(text)
    if found:
        text = f"WITH {_expressions(found.group(1))},\n{text}"
    parameters: dict[str, str] = {}
    for key, kind in _PLACEHOLDER.findall(text):
        if parameters.setdefault(key, kind) != kind:
            raise ValueError(f"{name}.sql declares {key} as both {parameters[key]} and {kind}")
    return SqlFile(name, text, parameters)


def views() -> tuple[tuple[str, str], ...]:
    """Every query as a parameterized view ``exptrace_<name>``, for people's own SQL; ingest
    creates them when the query layer hands them over (``exptrace up``). Fragments (files
    other files start ``-- with:``) are not views."""
    folder = files("exptrace.query.core").joinpath("sql")
    names = sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))
    fragments = {m for name in names for m in _WITH.findall(_read(name))}
    return tuple((f"exptrace_{name}", load(name).text) for name in names if name not in fragments)


def tables() -> tuple[tuple[str, str], ...]:
    """``(name, CREATE TABLE text)`` of each table in ``sql/tables/``, for ingest to render
    (single-node or cluster form) and create where missing: the audit, freeze and decision
    logs, the watcher's findings and rounds, and alert deliveries."""
    folder = files("exptrace.query.core").joinpath("sql").joinpath("tables")
    return tuple(
        (p.name.removesuffix(".sql"), p.read_text(encoding="utf-8"))
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".sql")
    )


def schema_parts() -> dict[str, tuple[tuple[str, str], ...]]:
    """What the query layer hands to ingest's schema, as keyword arguments of
    ``Schema``, ``IngestServer`` and ``IngestServer.add_query_parts``: its views
    (``query_views``) and its tables (``query_tables``). Everything that builds a store the
    query layer uses takes them from here."""
    return {"query_views": views(), "query_tables": tables()}
