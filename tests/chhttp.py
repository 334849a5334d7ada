"""A ClickHouse HTTP interface served from chDB, so clickhouse-connect can be tested here.

It understands what clickhouse-connect sends: SQL in the body or the ``query`` argument, a
trailing ``FORMAT``, ``param_*`` bound parameters, settings as URL arguments, lz4/gzip
request bodies, and ``INSERT ... FORMAT X`` with the data in the body. Errors come back as
ClickHouse's do: status 500, ``X-ClickHouse-Exception-Code`` and the exception text.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

from exptrace.ingest.store.sqltext import literal

CLIENT_ARGS = {
    "query",
    "query_id",
    "database",
    "default_format",
    "wait_end_of_query",
    "session_id",
    "compress",
    "decompress",
    "enable_http_compression",
    "user",
    "password",
    "session_timeout",
    "session_check",
    "http_headers_progress_interval_ms",
    "send_progress_in_http_headers",
    "client_protocol_version",
    "cancel_http_readonly_queries_on_client_close",
}
_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_INSERT = re.compile(
    r"^\s*(INSERT\s+INTO\s+.+?)(?:\s+FORMAT\s+(\w+))\s*$", re.IGNORECASE | re.DOTALL
)
_CODE = re.compile(r"Code:\s*(\d+)")


class _Pool:
    """chDB connections reused across request threads, all closed when serving stops."""

    def __init__(self, path: str) -> None:
        import chdb

        self._connect = lambda: chdb.connect(path)
        self._idle: list = []
        self._all: list = []
        self.schemas = Path(tempfile.mkdtemp(prefix="chhttp-schemas-"))
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self):
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            with self._lock:
                self._idle.append(conn)

    def schema_file(self, text: str, message: str) -> str:
        path = self.schemas / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.proto"
        if not path.exists():
            path.write_text(text)
        return f"{path}:{message}"

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._idle.clear()


def _handler(pool: _Pool):

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            return

        def do_GET(self):
            self._handle()

        def do_POST(self):
            self._handle()

        def _body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            encoding = (self.headers.get("content-encoding") or "").lower()
            if encoding == "gzip":
                return gzip.decompress(body)
            if encoding == "lz4":
                import lz4.frame

                return lz4.frame.decompress(body)
            return body

        def _handle(self):
            args = dict(parse_qsl(urlparse(self.path).query, keep_blank_values=True))
            body = self._body()
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            settings = {
                k: v for k, v in args.items() if k not in CLIENT_ARGS and not k.startswith("param_")
            }
            if settings.pop("format_schema_source", "") == "string":
                # A server keeps inline schemas under its own format_schema_path.
                settings["format_schema"] = pool.schema_file(
                    settings.pop("format_schema"), settings.pop("format_schema_message_name")
                )
            clause = ", ".join(f"{k} = {literal(v)}" for k, v in settings.items())
            try:
                if "query" in args and body:
                    out = self._insert(args["query"], body, clause)
                elif _INSERT.match(body.split(b"\n", 1)[0].decode(errors="replace")):
                    statement, data = body.split(b"\n", 1)  # the query, then the data
                    out = self._insert(statement.decode(), data, clause)
                else:
                    sql = args.get("query") or body.decode()
                    out = self._select(
                        sql, args.get("default_format", "TabSeparated"), clause, params
                    )
            except Exception as error:  # reported to the client as ClickHouse would
                text = str(error).encode()
                code = _CODE.search(str(error))
                self.send_response(500)
                self.send_header("X-ClickHouse-Exception-Code", code.group(1) if code else "1000")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def _insert(self, sql: str, data: bytes, clause: str) -> bytes:
            match = _INSERT.match(sql)
            if not match:
                raise ValueError(f"Code: 62. expected INSERT ... FORMAT, got {sql[:100]!r}")
            statement = match.group(1) + (f" SETTINGS {clause}" if clause else "")
            with pool.connection() as conn:
                inserter = conn.send_insert(statement, match.group(2))
                inserter.append(data)
                inserter.finish()
            return b""

        def _select(self, sql: str, fmt: str, clause: str, params: dict) -> bytes:
            match = _FORMAT.search(sql)
            if match:
                fmt, sql = match.group(1), sql[: match.start()]
            sql = sql.rstrip().rstrip(";")
            if clause and re.match(r"\s*(SELECT|WITH)\b", sql, re.IGNORECASE):
                sql += f" SETTINGS {clause}"
            with pool.connection() as conn:
                result = conn.query(sql, fmt, params=params or None)
                data = result.bytes() if hasattr(result, "bytes") else result.data()
            return data if isinstance(data, bytes) else data.encode()

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client gone mid-request (a receiver stopped or killed) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_chdb_http(path: str, port: int = 0) -> Iterator[int]:
    """Serve ClickHouse's HTTP interface for the chDB directory ``path`` on ``port`` (0: a
    free one); yields the port."""
    pool = _Pool(path)
    server = _Server(("127.0.0.1", port), _handler(pool))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        pool.close()
