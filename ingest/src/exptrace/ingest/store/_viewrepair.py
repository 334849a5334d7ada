"""Repair of the embedded store's query views, before the engine opens its directory.

The query views (``exptrace_<name>``, handed over by the query layer) hold no data and are
created again from the package's text whenever it changes. A write cut short by a full disk
can leave a view's metadata file (``<store>/metadata/<db>/<name>.sql``) empty or truncated,
and the engine then refuses to open the whole directory. Such a file is removed before the
engine opens it; the view is created again once the store is set up with room on its disk.

Only a file named for a view in the known set whose text is a view's (``ATTACH VIEW``), or a
cut piece of one, is ever removed: a table's file, which holds data, never is. A cut that
leaves a file that looks whole but does not parse is found with the engine's own parser when
the engine refuses to open the store, and the open is tried once more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VIEW_HEADER = b"ATTACH VIEW "
"""How the engine's metadata file of a plain (and parameterized) view starts."""
_CLOSING = {ord(")"): ord("("), ord("]"): ord("["), ord("}"): ord("{")}
_QUOTES = frozenset(b"'\"`")


@dataclass(frozen=True)
class RemovedView:
    """A view's metadata file removed before the engine opened the store, and why."""

    path: Path
    reason: str

    def describe(self) -> str:
        return f"{self.path.name} ({self.reason})"


def damage(text: bytes) -> str | None:
    """Why ``text``, a view's metadata file, cannot be a whole view (None: it may be one).

    The engine writes the statement with a final newline, its brackets balanced and its
    quotes closed; a file cut short by a full disk misses at least one of these. Text that
    is not a view's (no ``ATTACH VIEW`` header) is never called damaged.
    """
    if not text.strip():
        return "empty"
    if not text.startswith(VIEW_HEADER):
        return "cut inside its header" if VIEW_HEADER.startswith(text) else None
    if not text.endswith(b"\n"):
        return f"cut short at {len(text)} bytes (no final newline)"
    if not _balanced(text):
        return f"cut short at {len(text)} bytes (unclosed brackets or quotes)"
    return None


def _balanced(text: bytes) -> bool:
    """Whether every bracket is closed in order and every quote closed (backslash escapes)."""
    stack: list[int] = []
    quote: int | None = None
    escaped = False
    for byte in text:
        if quote is not None:
            if escaped:
                escaped = False
            elif byte == ord("\\"):
                escaped = True
            elif byte == quote:
                quote = None
        elif byte in _QUOTES:
            quote = byte
        elif byte in (ord("("), ord("["), ord("{")):
            stack.append(byte)
        elif byte in _CLOSING and (not stack or stack.pop() != _CLOSING[byte]):
            return False
    return quote is None and not stack


def _view_files(store_dir: Path, names: Collection[str]) -> list[Path]:
    """The metadata files of the views ``names`` in every database of the store."""
    metadata = store_dir / "metadata"
    databases = [p for p in metadata.iterdir() if p.is_dir()] if metadata.is_dir() else []
    return [
        database / f"{name}.sql"
        for database in databases
        for name in sorted(names)
        if (database / f"{name}.sql").is_file()
    ]


def _removed(found: list[tuple[Path, str]]) -> list[RemovedView]:
    """Remove the files found, saying in one line which and why."""
    removed = []
    for path, reason in found:
        path.unlink()
        removed.append(RemovedView(path, reason))
    if removed:
        log.warning(
            "the store: removed the damaged metadata of %d query view(s) exptrace creates "
            "again at start (a write cut short by a full disk?): %s; no data is lost",
            len(removed),
            ", ".join(r.describe() for r in removed),
        )
    return removed


def remove_damaged_views(store_dir: Path, names: Collection[str]) -> list[RemovedView]:
    """Remove the damaged (:func:`damage`) metadata files of the views ``names`` in every
    database of the embedded store at ``store_dir``; the engine must not have it open."""
    found = []
    for path in _view_files(store_dir, names):
        reason = damage(path.read_bytes())
        if reason is not None:
            found.append((path, reason))
    return _removed(found)


def remove_unparseable_views(
    store_dir: Path, names: Collection[str], parses: Callable[[str], bool]
) -> list[RemovedView]:
    """Remove the metadata files of the views ``names`` whose text the engine's parser
    (``parses``) refuses: a cut that left the brackets closed. For when the engine did not
    open the store (it names the file it could not parse only on its standard error)."""
    found = []
    for path in _view_files(store_dir, names):
        text = path.read_bytes()
        if text.startswith(VIEW_HEADER) and not parses(text.decode(errors="replace")):
            found.append((path, "the engine cannot parse it"))
    return _removed(found)
