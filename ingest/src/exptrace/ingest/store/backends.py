"""The one interface everything above the store speaks: commands, queries with bound
parameters, and raw inserts. Backends: embedded chDB (``chdb://PATH``) and ClickHouse servers
through clickhouse-connect (``clickhouse://`` and ``http(s)://`` URLs).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from exptrace.ingest.errors import StoreBusy, StoreError
from exptrace.ingest.store._viewrepair import remove_damaged_views, remove_unparseable_views
from exptrace.ingest.store.locking import DirectoryLock
from exptrace.ingest.store.sqltext import identifier, literal


@dataclass(frozen=True)
class Result:
    """A query result: column names and rows of JSON-decoded values."""

    columns: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Store(ABC):
    """A ClickHouse engine: embedded or remote."""

    url: str

    @abstractmethod
    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing useful (DDL, INSERT ... VALUES with params)."""

    @abstractmethod
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Result:
        """Run a query; values of ``parameters`` bind to ``{name:Type}`` placeholders."""

    @abstractmethod
    def insert_raw(
        self, table: str, data: bytes, fmt: str, settings: Mapping[str, str | int]
    ) -> None:
        """Insert ``data`` (already in format ``fmt``) into ``table`` with insert settings."""

    def insert_protobuf(
        self, table: str, data: bytes, schema: str, message: str, settings: Mapping[str, str | int]
    ) -> None:
        """Insert length-delimited protobuf ``message``s; the schema text travels inline."""
        self.insert_raw(
            table,
            data,
            "Protobuf",
            {
                **settings,
                "format_schema_source": "string",
                "format_schema": schema,
                "format_schema_message_name": message,
            },
        )

    def free_bytes(self) -> int | None:
        """Bytes free on the disk under the store (None: unknown, as for a server)."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release connections and locks."""


def _json_result(text: str | bytes) -> Result:
    if not text:
        return Result([], [])
    payload = json.loads(text)
    return Result([m["name"] for m in payload["meta"]], payload["data"])


# -- embedded ------------------------------------------------------------------------------


def param_text(value: Any) -> str:
    """A value in the text form ClickHouse parses for ``{name:Type}`` parameters."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_quoted(k)}:{_quoted(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        # Parameter values are read in ClickHouse's escaped text form.
        return value.translate(_ESCAPES)
    return str(value)


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"})


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dt.datetime):
        return literal(param_text(value))
    return param_text(value)


class ChdbStore(Store):
    """The embedded engine on a local directory; one process owns the directory.

    Each thread gets its own connection to the same path (chDB allows many in one process and
    releases the GIL while a query runs). ``views`` names the views exptrace creates again at
    every start: their damaged metadata files are removed before the engine opens the path.
    """

    def __init__(self, path: str | os.PathLike[str], views: Collection[str] = ()) -> None:
        self.path = Path(path).resolve()
        self.url = f"chdb://{self.path}"
        self._lock = DirectoryLock(self.path, StoreBusy)
        try:
            import chdb  # heavy import: only when an embedded store is opened
        except ImportError as error:  # pragma: no cover - chdb-core is a dependency
            self._lock.release()
            raise StoreError(f"chDB is not installed: {error}") from error
        self._chdb = chdb
        for leftover in (self.path / "inserts").glob("*.bin"):
            leftover.unlink()  # scratch files of inserts cut short by a crash
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        # Connections must close before the interpreter tears the engine down: one that is
        # only garbage-collected at exit can crash the process.
        atexit.register(self.close)
        try:
            remove_damaged_views(self.path, views)  # before the engine reads them
            try:
                self._connection()
            except StoreError as error:
                # Only an engine that failed to initialize over this directory (a metadata
                # file it could not read: it names the file on its standard error only) is
                # worth a second engine's look; any other refusal (another path already
                # open in this process, a lock) is passed on untouched.
                if "Error initializing EmbeddedServer" not in str(
                    error
                ) or not self._remove_unparseable_views(views):
                    raise
                self._connection()  # once more without them
        except Exception:
            self._lock.release()
            raise

    def _remove_unparseable_views(self, views: Collection[str]) -> bool:
        """After the engine refused to open the store: remove the files of ``views`` its
        parser refuses (asked through an in-memory engine); whether any was removed."""
        try:
            memory = self._chdb.connect(":memory:")
        except Exception:
            return False  # an engine already runs in this process: nothing to learn

        def parses(text: str) -> bool:
            try:
                memory.query(
                    "SELECT formatQuery({q:String})", "TSV", params={"q": param_text(text)}
                )
            except Exception:
                return False
            return True

        try:
            return bool(remove_unparseable_views(self.path, views, parses))
        finally:
            memory.close()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._chdb.connect(str(self.path))
            except Exception as error:
                raise StoreError.from_exception(error) from error
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "TSV", parameters)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Result:
        return _json_result(self._run(sql, "JSONCompact", parameters))

    def _run(self, sql: str, fmt: str, parameters: Mapping[str, Any] | None) -> Any:
        params = {k: param_text(v) for k, v in (parameters or {}).items()}
        try:
            result = self._connection().query(sql, fmt, params=params or None)
        except Exception as error:
            raise StoreError.from_exception(error) from error
        return result.data() if result is not None else ""

    def insert_raw(
        self, table: str, data: bytes, fmt: str, settings: Mapping[str, str | int]
    ) -> None:
        """Insert through ``INSERT ... FROM INFILE``: a plain statement, which raises.

        chDB's streaming insert (``send_insert``) can return without raising although the
        engine refused the rows (seen with too many partitions in one block), so the bytes go
        to a scratch file in the store directory and the statement reads them from there.
        """
        clause = ", ".join(
            f"{identifier(k)} = {v if isinstance(v, int) else literal(str(v))}"
            for k, v in settings.items()
        )
        scratch = self.path / "inserts"
        with contextlib.ExitStack() as held:
            try:
                scratch.mkdir(exist_ok=True)
                # Unbuffered: a write that fails on a full disk leaves nothing for close() to
                # flush, so the failure surfaces here once, not again from the file's cleanup.
                f = held.enter_context(
                    tempfile.NamedTemporaryFile(dir=scratch, suffix=".bin", buffering=0)
                )
                view = memoryview(data)
                while view:
                    view = view[f.write(view) :]
            except OSError as error:  # a full disk: an outage of the store, retried with backoff
                raise StoreError(f"cannot write the insert's scratch file: {error}") from error
            sql = (
                f"INSERT INTO {identifier(table)} FROM INFILE {literal(f.name)}"
                + (f" SETTINGS {clause}" if clause else "")
                + f" FORMAT {identifier(fmt)}"
            )
            try:
                self._connection().query(sql, "TSV")
            except Exception as error:
                raise StoreError.from_exception(error) from error

    def insert_protobuf(
        self, table: str, data: bytes, schema: str, message: str, settings: Mapping[str, str | int]
    ) -> None:
        """As :meth:`Store.insert_protobuf`, with the schema kept as a file in the store.

        An inline schema makes the embedded engine cache it under the process's working
        directory; a file inside the store directory keeps everything in one place.
        """
        digest = hashlib.sha256(schema.encode()).hexdigest()[:16]
        path = self.path / "format_schemas" / f"otlp-{digest}.proto"
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".tmp")
                partial.write_text(schema)
                partial.replace(path)
            except OSError as error:  # a full disk: an outage of the store, retried with backoff
                raise StoreError(f"cannot write the insert's format schema: {error}") from error
        self.insert_raw(table, data, "Protobuf", {**settings, "format_schema": f"{path}:{message}"})

    def free_bytes(self) -> int:
        """Bytes free for this process on the store directory's filesystem."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def close(self) -> None:
        """Close every connection and release the directory; safe to call more than once."""
        atexit.unregister(self.close)
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(Exception):  # it may already be gone
                    conn.close()
            self._all.clear()
        self._local = threading.local()
        self._lock.release()


# -- remote ----------------------------------------------------------------------------------


_JSON_SETTINGS = {"output_format_json_quote_64bit_integers": 0}
_DRIVER_LOG = "clickhouse_connect.driver._backend.http_sync"


class _DriverNoise(logging.Filter):
    """Drops clickhouse-connect's "Unexpected Http Driver Exception" line, logged at every
    failed request: the error is raised to exptrace, which says it once per change."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Unexpected Http Driver Exception"


_DRIVER_NOISE = _DriverNoise()


class ClickHouseStore(Store):
    """A ClickHouse server or cluster over HTTP(S) through clickhouse-connect.

    URL forms: ``clickhouse://user:password@host:8123/database?secure=true&cluster=name`` and
    ``http(s)://user:password@host:port/database``.
    """

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        logging.getLogger(_DRIVER_LOG).addFilter(_DRIVER_NOISE)  # once: the same object

        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        secure = parsed.scheme == "https" or query.pop("secure", "false").lower() == "true"
        self.cluster = query.pop("cluster", None)
        database = parsed.path.strip("/") or "default"
        self.url = parsed._replace(netloc=parsed.hostname or "", query="").geturl()
        try:
            self._client = clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if secure else 8123),
                username=unquote(parsed.username or "default"),
                password=unquote(parsed.password or ""),
                database=identifier(database),
                secure=secure,
                compress=query.pop("compress", "true").lower() == "true",
                autogenerate_session_id=False,
            )
        except Exception as error:
            raise StoreError.from_exception(error) from error
        self._lock = threading.Lock()

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(parameters or {}))
        except Exception as error:
            raise StoreError.from_exception(error) from error

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Result:
        try:
            raw = self._client.raw_query(
                sql, parameters=dict(parameters or {}), settings=_JSON_SETTINGS, fmt="JSONCompact"
            )
        except Exception as error:
            raise StoreError.from_exception(error) from error
        return _json_result(raw)

    def insert_raw(
        self, table: str, data: bytes, fmt: str, settings: Mapping[str, str | int]
    ) -> None:
        try:
            self._client.raw_insert(
                identifier(table), insert_block=data, settings=dict(settings), fmt=fmt
            )
        except Exception as error:
            raise StoreError.from_exception(error) from error

    def close(self) -> None:
        self._client.close()


class ReadOnlyStore(Store):
    """Queries only, each with ``readonly = 2``: the engine refuses writes and DDL.

    The query layer reads through this; give it a read-only ClickHouse user as well.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.url = store.url

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        raise StoreError("this store is read-only")

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Result:
        return self._store.query(f"{sql.rstrip().rstrip(';')} SETTINGS readonly = 2", parameters)

    def insert_raw(
        self, table: str, data: bytes, fmt: str, settings: Mapping[str, str | int]
    ) -> None:
        raise StoreError("this store is read-only")

    def close(self) -> None:
        return None  # the underlying store belongs to its owner


def open_store(url: str, views: Collection[str] = ()) -> Store:
    """Open the store named by ``url``: ``chdb://PATH``, ``clickhouse://...``, ``http(s)://...``;
    ``views``: the views exptrace creates again at start (see :class:`ChdbStore`)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "chdb":
        return ChdbStore(url.split("://", 1)[1] or ".", views)
    if scheme in ("clickhouse", "http", "https"):
        return ClickHouseStore(url)
    raise StoreError(f"unknown store URL {url!r}: use chdb://PATH, clickhouse:// or http(s)://")
