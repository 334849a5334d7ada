"""Every table and view exptrace keeps, in one place, with a version and forward migrations.

Output tables are the OpenTelemetry Collector ClickHouse exporter's tables as its release
:data:`UPSTREAM_RELEASE` creates them (``otel_traces``, ``otel_traces_trace_id_ts``,
``otel_logs``, ``otel_metrics_*``: same columns, types, codecs, sort keys and skip indexes)
plus :data:`OUR_COLUMNS`. Ours are ``DEFAULT`` columns computed from the exporter's columns at
insert, so rows a stock Collector writes get them too, and the same tables can be adopted in
place where a Collector already writes. Landing tables (Null engine) take raw OTLP requests,
parsed by the engine, and materialized views do the per-row work: flattening, attribute
conversion and redaction. The same definitions render the single-node form (chDB, one server)
and the cluster form (``ON CLUSTER``, Replicated engines, Distributed tables).

The stored tables' DDL is text: one ``.sql`` file per table under ``sql/tables/`` (the
signals' and our own) and ``sql/registry/`` (the registry the dictionaries read), read by
:func:`load_table`; the query layer hands over the text of the tables only it reads and
writes (:attr:`Schema.query_tables`, read by :func:`parse_table`). This module adds what
depends on a deployment (retention, our columns' expressions, database, cluster form) and
renders every statement, ``ALTER`` included.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

from exptrace.ingest import defaults
from exptrace.ingest.schema import _landing as landing
from exptrace.ingest.schema.redaction import Redaction, RedactionSql
from exptrace.ingest.store import identifier, literal
from exptrace.propagation import UNIT_MEMBER, grammar

SCHEMA_VERSION = 9
UPSTREAM_RELEASE = "v0.152.0"
"""The clickhouseexporter release whose tables ours match (logs in the v0.151+ layout)."""

OUR_COLUMNS = ("HttpRoute", "HttpStatusCode", "Experiments", "Artifacts", "IngestTime")
"""Columns exptrace adds to the exporter's tables (``HttpRoute``/``HttpStatusCode`` only on
``otel_traces``)."""

EXPERIMENTS = "Map(LowCardinality(String), LowCardinality(String))"
ARTIFACTS_DICT = "exptrace_artifact_links"
KNOWN_DICT = "exptrace_known_experiments"


@dataclass(frozen=True)
class Table:
    name: str
    columns: str
    engine: str = "MergeTree"
    order_by: str | None = None
    partition_by: str | None = None
    primary_key: str | None = None
    ttl_column: str | None = None
    settings: str | None = None

    def definitions(self) -> list[str]:
        """Each column and index definition on its own (split at top-level commas)."""
        parts, depth, current = [], 0, []
        for char in self.columns:
            if char in "([":
                depth += 1
            elif char in ")]":
                depth -= 1
            if char == "," and depth == 0:
                parts.append("".join(current).strip())
                current = []
            else:
                current.append(char)
        parts.append("".join(current).strip())
        return [p for p in parts if p]

    def column_definitions(self) -> dict[str, str]:
        """Column name (``Events`` for a Nested group) -> its definition."""
        return {
            d.split()[0].strip("`"): d
            for d in self.definitions()
            if not d.startswith(("INDEX ", "PROJECTION "))
        }

    def index_definitions(self) -> dict[str, str]:
        return {d.split()[1]: d for d in self.definitions() if d.startswith("INDEX ")}

    def projection_definitions(self) -> dict[str, str]:
        return {d.split()[1]: d for d in self.definitions() if d.startswith("PROJECTION ")}


_SQL = files(__package__) / "sql"
"""The DDL text: ``tables/`` (the signals' and our own), ``registry/`` (the registry), and
``parts/`` (lines several tables share), ``views/`` (the materialized views' queries)."""
_CREATE = re.compile(r"CREATE TABLE (\w+) \((.*)\)\nENGINE = (\w+)\n(.*)", re.DOTALL)
_CLAUSES = {
    "PARTITION BY": "partition_by",
    "PRIMARY KEY": "primary_key",
    "ORDER BY": "order_by",
    "TTL": "ttl_column",
    "SETTINGS": "settings",
}
_PART = re.compile(r"\n    \{(\w+)\}(?=\n|$)|\{(\w+)\}")


def _without_header(text: str) -> str:
    """``text`` without the ``--`` comment lines it starts with (its header)."""
    lines = text.splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "\n".join(lines)


@cache
def _template(path: str) -> str:
    """``sql/<path>.sql`` without its header."""
    return _without_header((_SQL / f"{path}.sql").read_text())


def fill(path: str, **parts: str) -> str:
    """The text of ``sql/<path>.sql``, its placeholders filled in one pass (what is filled in
    is never read again): ``{part}`` takes ``parts[part]``. A line that is only ``{part}`` is
    replaced by ``parts[part]`` when that is lines (text that starts with a newline) or
    nothing, and by the lines of ``sql/parts/<part>.sql`` when ``parts`` has no ``part``."""

    def replace(match: re.Match[str]) -> str:
        alone, within = match.groups()
        if within:
            return parts[within]
        if alone not in parts:
            return "\n" + fill(f"parts/{alone}")
        if parts[alone].startswith("\n") or not parts[alone]:
            return parts[alone]
        return match.group(0).replace(f"{{{alone}}}", parts[alone])  # an expression

    return _PART.sub(replace, _template(path))


def load_table(path: str, name: str | None = None, **parts: str) -> Table:
    """The table that ``sql/<path>.sql`` defines (named ``name``, default the file's name),
    placeholders filled as :func:`fill` does (our columns, a metric kind's own).

    The file is a ``CREATE TABLE`` with one clause a line after ``ENGINE``; ``TTL`` names the
    time column only (the retention is this deployment's, :meth:`Schema.ttl`), and the
    engine's settings and the cluster form are added when rendered.
    """
    return parse_table(fill(path, **parts), name or path.rsplit("/", 1)[-1], f"{path}.sql")


def parse_table(text: str, name: str, source: str | None = None) -> Table:
    """The table ``name`` that ``text`` (a ``CREATE TABLE`` as :func:`load_table` reads it,
    after an optional ``--`` header) defines; ``source`` names where the text is from."""
    match = _CREATE.fullmatch(_without_header(text).strip("\n"))
    if not match or match.group(1) != name:
        raise ValueError(f"{source or name} is not one CREATE TABLE of {name}")
    table, columns, engine, tail = match.groups()
    clauses = {}
    for line in tail.splitlines():
        keyword = next(k for k in _CLAUSES if line.startswith(k + " "))
        clauses[_CLAUSES[keyword]] = line.removeprefix(keyword + " ")
    return Table(table, columns.removesuffix("\n"), engine=engine, **clauses)


def view_text(path: str, **parts: str) -> str:
    """The ``SELECT`` of a view in ``sql/<path>.sql``, filled as :func:`fill` does with
    expressions the schema computes (redaction, attribute offsets); it starts on a line of its
    own, after ``AS``."""
    return "\n" + fill(path, **parts)


def _one_line(text: str) -> str:
    """``text``'s lines joined by a space, each without its indentation."""
    return " ".join(line.strip() for line in text.splitlines())


def _column_comments(table: Table) -> dict[str, str]:
    """The ``COMMENT '...'`` of each column of ``table`` that has one."""
    comments = {}
    for column, definition in table.column_definitions().items():
        found = re.search(r" COMMENT '([^'\\]*)'", definition)
        if found:
            comments[column] = found.group(1)
    return comments


COLUMN_COMMENTS = {"otel_logs": _column_comments(load_table("tables/otel_logs", ours=""))}
"""The exporter's column comments, per table (as its template has them): set on new tables
and on adopted or older ones whose column has none."""


@dataclass(frozen=True)
class View:
    name: str
    target: str
    select: str


@dataclass(frozen=True)
class QueryView:
    """A parameterized view handed over by the query layer; ``comment`` (stored with it)
    changes exactly when its text does, so an unchanged view is never written again."""

    name: str
    comment: str
    statement: str


@dataclass(frozen=True)
class Dictionary:
    name: str
    body: str


@dataclass
class Schema:
    """The DDL for one deployment: retention, redaction and database are its parameters."""

    retention_days: int = defaults.RETENTION_DAYS
    redaction: Redaction = field(default_factory=Redaction)
    database: str = "default"
    known_only: bool = False
    """Keep only experiments registered in the registry in ``Experiments`` (an allow-list);
    the raw ``exp.*`` attributes stay in the attribute maps either way."""
    query_views: tuple[tuple[str, str], ...] = ()
    """``(name, select)`` parameterized views handed over by the query layer."""
    query_tables: tuple[tuple[str, str], ...] = ()
    """``(name, CREATE TABLE text)`` of the tables the query layer owns (its registry logs),
    handed over with its views; rendered like every table (cluster form included)."""

    def __post_init__(self) -> None:
        identifier(self.database)
        if not isinstance(self.retention_days, int) or self.retention_days < 0:
            raise ValueError("retention_days must be a whole number of days, 0 for none")

    def settings(self, cluster: str | None = None) -> dict[str, object]:
        """What a store records about how it was created; changed only on purpose."""
        return {
            "retention_days": self.retention_days,
            "redaction": self.redaction.fingerprint(),
            "known_only": self.known_only,
            "cluster": cluster,
        }

    # -- rendering ---------------------------------------------------------------------

    def statements(self, cluster: str | None = None) -> list[str]:
        """CREATE statements, dependencies first; ``cluster`` renders the cluster form."""
        out = self.table_statements(cluster)
        out += self.function_statements(cluster)
        out += self.query_view_statements(cluster)
        out += [self.view_statement(view, cluster) for view in self.views()]
        return out

    def table_statements(self, cluster: str | None = None) -> list[str]:
        """Tables and dictionaries (the registry before the dictionaries that read it, the
        dictionaries before the tables whose defaults use them)."""
        on = on_cluster(cluster)
        tables = self.tables()
        registry = [t for t in tables if t.name.startswith("exptrace_")]
        out = []
        for table in registry:
            out += self._table(table, cluster, on)
        for dictionary in self.dictionaries():
            out.append(f"CREATE DICTIONARY IF NOT EXISTS {dictionary.name}{on} {dictionary.body}")
        for table in tables:
            if table not in registry:
                out += self._table(table, cluster, on)
        return out

    def query_table_statements(self, cluster: str | None = None) -> list[str]:
        """The query layer's tables, each created if missing (at every start: a store set
        up without them, or by an earlier release, gets them)."""
        on = on_cluster(cluster)
        return [s for table in self._query_tables() for s in self._table(table, cluster, on)]

    def _query_tables(self) -> list[Table]:
        return [parse_table(text, name) for name, text in self.query_tables]

    def query_view_statements(self, cluster: str | None = None) -> list[str]:
        """The query views handed over, replaced in place (no window) when their text changes."""
        return [view.statement for view in self.query_view_definitions(cluster)]

    def query_view_definitions(self, cluster: str | None = None) -> list[QueryView]:
        """The query views handed over, each with the comment that names its text."""
        out = []
        for name, select in self.query_views:
            head = f"CREATE OR REPLACE VIEW {identifier(name)}{on_cluster(cluster)} AS {select}"
            digest = hashlib.sha256(head.encode()).hexdigest()[:16]
            comment = f"exptrace query view {digest}"
            # On a line of its own: the text may end in a -- comment.
            out.append(QueryView(name, comment, f"{head}\nCOMMENT {literal(comment)}"))
        return out

    def view_statement(self, view: View, cluster: str | None = None) -> str:
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view.name}{on_cluster(cluster)} "
            f"TO {self.stored_name(view.target, cluster)} AS {view.select}"
        )

    def stored_name(self, table: str, cluster: str | None) -> str:
        """Where rows of ``table`` are written: its ``_local`` table in the cluster form."""
        return f"{table}_local" if cluster and self._is_stored(table) else table

    def _is_stored(self, name: str) -> bool:
        return any(t.name == name and t.engine != "Null" for t in self.tables())

    def _table(self, table: Table, cluster: str | None, on: str) -> list[str]:
        if table.engine == "Null":
            return [f"CREATE TABLE IF NOT EXISTS {table.name}{on} ({table.columns}) ENGINE = Null"]
        clauses = []
        if table.partition_by:
            clauses.append(f"PARTITION BY {table.partition_by}")
        if table.primary_key:
            clauses.append(f"PRIMARY KEY {table.primary_key}")
        clauses.append(f"ORDER BY {table.order_by or 'tuple()'}")
        if table.ttl_column and self.retention_days:
            clauses.append(f"TTL {self.ttl(table)}")
        settings = ["index_granularity = 8192", "non_replicated_deduplication_window = 10000"]
        if table.ttl_column:
            settings.append("ttl_only_drop_parts = 1")
        if table.settings:
            settings.append(table.settings)
        tail = " ".join(clauses) + " SETTINGS " + ", ".join(settings)
        if not cluster:
            engine = table.engine
            return [
                f"CREATE TABLE IF NOT EXISTS {table.name} ({table.columns}) ENGINE = {engine}() {tail}"
            ]
        path = f"'/clickhouse/tables/{{shard}}/{self.database}/{table.name}'"
        replicated = f"Replicated{table.engine}({path}, '{{replica}}')"
        return [
            f"CREATE TABLE IF NOT EXISTS {table.name}_local{on} ({table.columns}) "
            f"ENGINE = {replicated} {tail}",
            f"CREATE TABLE IF NOT EXISTS {table.name}{on} AS {table.name}_local "
            f"ENGINE = Distributed({identifier(cluster)}, {self.database}, {table.name}_local, rand())",
        ]

    def ttl(self, table: Table) -> str:
        return f"{table.ttl_column} + toIntervalDay({int(self.retention_days)})"

    # -- changing a store in place (what :mod:`~exptrace.ingest.schema.migrate` runs) -------

    def reconcile_statements(
        self,
        table: Table,
        cluster: str | None,
        columns: dict[str, str],
        indexes: set[str],
        projections: set[str] = frozenset(),
    ) -> list[str]:
        """What brings the stored ``table`` (its ``columns``: name -> comment, its skip
        ``indexes`` and ``projections``) to this definition: missing columns, indexes and
        projections (built for the rows already stored), the exporter's column comments, our
        columns' defaults, landing columns' current structure. Never drops or rewrites data,
        nor moves a column."""
        alter = f"ALTER TABLE {self.stored_name(table.name, cluster)}{on_cluster(cluster)}"
        present = {c.split(".")[0] for c in columns}
        definitions = table.column_definitions()
        if table.engine == "Null":
            return [
                f"{alter} MODIFY COLUMN {definition}"
                for column, definition in definitions.items()
                if column in columns
            ]
        out = []
        for column, definition in definitions.items():
            if column == "IngestTime" and column not in present:
                out += _add_ingest_time(alter, definition)
            elif column not in present:
                out.append(f"{alter} ADD COLUMN IF NOT EXISTS {definition}")
        for index, definition in table.index_definitions().items():
            if index not in indexes:
                added = definition.replace("INDEX ", "INDEX IF NOT EXISTS ", 1)
                out.append(f"{alter} ADD {added}")
        for projection, definition in table.projection_definitions().items():
            if projection not in projections:
                added = definition.replace("PROJECTION ", "PROJECTION IF NOT EXISTS ", 1)
                out.append(f"{alter} ADD {added}")
                out.append(
                    f"{alter} MATERIALIZE PROJECTION {projection} SETTINGS mutations_sync = 2"
                )
        for column, expression in self.defaults(table.name).items():
            out.append(f"{alter} MODIFY COLUMN {column} DEFAULT {expression}")
        for column, comment in COLUMN_COMMENTS.get(table.name, {}).items():
            if columns.get(column) == "":  # present without a comment: never replace one
                out.append(f"{alter} COMMENT COLUMN {column} {literal(comment)}")
        return out

    def retention_statements(self, cluster: str | None = None) -> list[str]:
        """Every table's TTL brought to the configured retention (0 days: keep everything)."""
        out = []
        for table in self.tables():
            if table.ttl_column is None:
                continue
            alter = f"ALTER TABLE {self.stored_name(table.name, cluster)}{on_cluster(cluster)}"
            if self.retention_days:
                out.append(f"{alter} MODIFY TTL {self.ttl(table)}")
            else:
                out.append(f"{alter} REMOVE TTL")
        return out

    def view_statements(self, existing: set[str], cluster: str | None = None) -> list[str]:
        """Missing materialized views created; existing ones changed in place."""
        return [
            f"ALTER TABLE {view.name}{on_cluster(cluster)} MODIFY QUERY {view.select}"
            if view.name in existing
            else self.view_statement(view, cluster)
            for view in self.views()
        ]

    # -- definitions ---------------------------------------------------------------------

    @property
    def redaction_sql(self) -> RedactionSql:
        """The redaction rules as SQL, through functions named for this database."""
        return self.redaction.sql(f"exptrace_{self.database}")

    def function_statements(self, cluster: str | None = None) -> list[str]:
        """The SQL functions the views call (redaction), replaced atomically when rules change."""
        return [
            f"CREATE OR REPLACE FUNCTION {name}{on_cluster(cluster)} AS {body}"
            for name, body in self.redaction_sql.functions()
        ]

    def tables(self) -> list[Table]:
        return [
            load_table("tables/exptrace_schema"),
            *REGISTRY_TABLES,
            *self._query_tables(),
            Table("otel_traces_landing", landing.TRACES, engine="Null"),
            Table("otel_logs_landing", landing.LOGS, engine="Null"),
            Table("otel_metrics_landing", landing.METRICS, engine="Null"),
            self._traces_table(),
            TRACE_ID_TS_TABLE,
            REQUESTS_TABLE,
            self._logs_table(),
            *[self._metric_table(kind) for kind in METRIC_KINDS],
        ]

    def defaults(self, table: str) -> dict[str, str]:
        """Our columns of ``table`` and the expressions that fill them at insert."""
        if table == "otel_traces":
            span = (
                f"mapUpdate(mapUpdate({experiments('ResourceAttributes')}, "
                f"{flag_experiments('`Events.Name`', '`Events.Attributes`')}), "
                f"{experiments('SpanAttributes')})"
            )
            status = "SpanAttributes['http.response.status_code']"
            return {
                "HttpRoute": "SpanAttributes['http.route']",
                "HttpStatusCode": (
                    f"toUInt16OrZero(if({status} != '', {status}, SpanAttributes['http.status_code']))"
                ),
                **self._experiment_defaults(span),
            }
        if table == "otel_logs":
            log = (
                f"mapUpdate(mapUpdate({experiments('ResourceAttributes')}, "
                f"{flag_from_log('EventName', 'LogAttributes')}), {experiments('LogAttributes')})"
            )
            return self._experiment_defaults(log)
        if table.startswith("otel_metrics_") and table != "otel_metrics_landing":
            point = f"mapUpdate({experiments('ResourceAttributes')}, {experiments('Attributes')})"
            return self._experiment_defaults(point)
        return {}

    def _experiment_defaults(self, experiments_map: str) -> dict[str, str]:
        return {
            "Experiments": self._known(experiments_map),
            "Artifacts": artifacts("Experiments"),
            "IngestTime": "now64(3)",
        }

    def _ours(self, table: str) -> str:
        types = {
            "HttpRoute": "LowCardinality(String)",
            "HttpStatusCode": "UInt16",
            "Experiments": EXPERIMENTS,
            "Artifacts": "Map(LowCardinality(String), String)",
            "IngestTime": "DateTime64(3)",
        }
        codecs = {"IngestTime": "Delta, ZSTD(1)"}
        return "".join(
            f"\n    {name} {types[name]} DEFAULT {expr} CODEC({codecs.get(name, 'ZSTD(1)')}),"
            for name, expr in self.defaults(table).items()
        )

    def _traces_table(self) -> Table:
        return load_table("tables/otel_traces", ours=self._ours("otel_traces"))

    def _logs_table(self) -> Table:
        return load_table("tables/otel_logs", ours=self._ours("otel_logs"))

    def _metric_table(self, kind: str) -> Table:
        name = f"otel_metrics_{kind}"
        own = "\n" + fill(f"tables/otel_metrics/{kind}")
        return load_table(
            "tables/otel_metrics", name, kind=kind, columns=own, ours=self._ours(name)
        )

    def dictionaries(self) -> list[Dictionary]:
        """The dictionaries the tables' defaults read, from ``sql/dictionaries/``."""
        out = []
        for name in (KNOWN_DICT, ARTIFACTS_DICT):
            source = _one_line(fill(f"dictionaries/{name}.source", database=self.database))
            body = fill(f"dictionaries/{name}", source=literal(source))
            out.append(Dictionary(name, _one_line(body)))
        return out

    def views(self) -> list[View]:
        """Materialized views from the landing tables; they write the exporter's columns only
        (ours are filled by the tables' defaults)."""
        r = self.redaction_sql
        resource = "length(rs.resource.attributes)"
        own = "length(s.attributes)"
        traces = view_text(
            "views/otel_traces_mv",
            span_name=r.text("s.name"),
            span_kind=span_kind("s.kind"),
            resource_attributes=r.attributes("attrs", "texts", "1", resource),
            span_attributes=r.attributes("attrs", "texts", f"{resource} + 1", own),
            status_code=status_code("s.status.code"),
            status_message=r.text("s.status.message"),
            event_attributes=r.attributes("attrs", "texts", "o", "length(e.attributes)"),
            link_attributes=r.attributes("attrs", "texts", "o", "length(l.attributes)"),
            texts=r.texts("attrs"),
            event_offsets=_offsets(f"{resource} + {own}", "event_lengths"),
            link_offsets=_offsets(f"{resource} + {own} + arraySum(event_lengths)", "link_lengths"),
        )
        trace_id_ts = view_text("views/otel_traces_trace_id_ts_mv")
        resource, scope = "length(rl.resource.attributes)", "length(sl.scope.attributes)"
        body = (
            f"CAST(tuple('', l.body), {literal(f'Tuple(key String, value {landing.ANY_VALUE})')})"
        )
        logs = view_text(
            "views/otel_logs_mv",
            resource_attributes=r.attributes("attrs", "texts", "1", resource),
            scope_attributes=r.attributes("attrs", "texts", f"{resource} + 1", scope),
            log_attributes=r.attributes(
                "attrs", "texts", f"{resource} + {scope} + 1", "length(l.attributes)"
            ),
            body=body,
            texts=r.texts("attrs"),
        )
        views = [
            View("otel_traces_mv", "otel_traces", traces),
            View("otel_traces_trace_id_ts_mv", "otel_traces_trace_id_ts", trace_id_ts),
            View("exptrace_requests_mv", REQUESTS_TABLE.name, REQUESTS_SELECT),
            View("otel_logs_mv", "otel_logs", logs),
        ]
        for kind in METRIC_KINDS:
            views.append(
                View(f"otel_metrics_{kind}_mv", f"otel_metrics_{kind}", self._metric(kind))
            )
        return views

    def _known(self, experiments_map: str) -> str:
        if not self.known_only:
            return experiments_map
        return f"mapFilter((k, v) -> dictHas({literal(KNOWN_DICT)}, tuple(k)), {experiments_map})"

    def _metric(self, kind: str) -> str:
        r = self.redaction_sql
        resource, scope = "length(rm.resource.attributes)", "length(sm.scope.attributes)"
        own = "length(dp.attributes)"
        has_exemplars = kind != "summary"
        exemplars = "\n" + fill(
            "views/otel_metrics_mv/exemplars",
            filtered_attributes=r.attributes(
                "attrs", "texts", "o", "length(ex.filtered_attributes)"
            ),
        )
        return view_text(
            "views/otel_metrics_mv",
            resource_attributes=r.attributes("attrs", "texts", "1", resource),
            scope_attributes=r.attributes("attrs", "texts", f"{resource} + 1", scope),
            attributes=r.attributes("attrs", "texts", f"{resource} + {scope} + 1", own),
            columns="\n" + fill(f"views/otel_metrics_mv/{kind}", exemplars=exemplars),
            exemplar_attributes=(
                "arrayFlatten(arrayMap(ex -> ex.filtered_attributes, dp.exemplars))"
                if has_exemplars
                else "[]"
            ),
            texts=r.texts("attrs"),
            exemplar_lengths=(
                "arrayMap(ex -> length(ex.filtered_attributes), dp.exemplars)"
                if has_exemplars
                else "emptyArrayUInt64()"
            ),
            exemplar_offsets=_offsets(f"{resource} + {scope} + {own}", "exemplar_lengths"),
            kind=kind,
        )

    def migrations(self) -> dict[int, list[str]]:
        """Statements that bring a store at version N-1 to version N, beyond what
        :func:`exptrace.ingest.schema.migrate.ensure_schema` reconciles for every version (missing
        columns and indexes, our columns' defaults, landing columns, views). Version 3 adds
        ``exptrace_experiments.unit`` (each experiment's unit attribute; rows written before
        read the default ``exptrace.unit``), a missing column that reconciliation adds.
        Version 4 adds :data:`REQUESTS_TABLE` and fills it from the spans already stored
        (its view exists only after the migration, so nothing is counted twice). Version 5
        has the exporter's column comments (:data:`COLUMN_COMMENTS`, which reconciliation
        sets where a column has none) and its column order in the metric tables; tables
        created before keep their column order (every insert and query names its columns).
        Version 6 adds the freeze and decision logs (``exptrace_freezes``,
        ``exptrace_decisions``), new tables that every migration creates. Version 7 adds the
        watcher's findings and rounds (``exptrace_watch_findings``, ``exptrace_watch_rounds``),
        new tables likewise. Both are the query layer's tables (:attr:`query_tables`), which
        every start also creates when missing. Version 8 has the element-wise converter of nested lists
        (:mod:`exptrace.ingest.schema._anyvalue`): every migration replaces the functions and views
        that call it. Version 9 has the ``minute_counts`` projection of :data:`REQUESTS_TABLE`
        (facts per experiment and minute), which reconciliation adds and builds for the rows
        already stored."""
        return {
            2: [],
            3: [],
            4: [f"INSERT INTO {REQUESTS_TABLE.name} {REQUESTS_SELECT}"],
            5: [],
            6: [],
            7: [],
            8: [],
            9: [],
        }


def on_cluster(cluster: str | None) -> str:
    """`` ON CLUSTER <cluster>`` for the cluster form (the name checked), else nothing: the one
    place every statement gets it from."""
    return f" ON CLUSTER {identifier(cluster)}" if cluster else ""


UNKNOWN_INGEST_TIME = "toDateTime64(0, 3)"
"""``IngestTime`` of rows a Collector wrote before exptrace adopted its table."""


def _add_ingest_time(alter: str, definition: str) -> list[str]:
    """Add ``IngestTime`` to an adopted table with the rows already in it at 0 (unknown),
    written into their parts. Left to a ``DEFAULT now64(3)``, their ingest time would be
    computed at every read and move. The insert default is set afterwards."""
    unknown = definition.replace(" DEFAULT now64(3)", f" DEFAULT {UNKNOWN_INGEST_TIME}")
    return [
        f"{alter} ADD COLUMN IF NOT EXISTS {unknown}",
        f"{alter} MATERIALIZE COLUMN IngestTime SETTINGS mutations_sync = 2",
    ]


def _offsets(before: str, lengths: str) -> str:
    """1-based start of each group of ``lengths`` in an array after ``before`` elements."""
    return f"arrayMap((c, n) -> {before} + 1 + c - n, arrayCumSum({lengths}), {lengths})"


# -- SQL building blocks ------------------------------------------------------------------


def span_kind(expr: str) -> str:
    names = "['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer']"
    return f"transform({expr}, [0, 1, 2, 3, 4, 5], {names}, 'Unspecified')"


def status_code(expr: str) -> str:
    return f"transform({expr}, [0, 1, 2], ['Unset', 'Ok', 'Error'], 'Unset')"


TOKEN = literal(grammar.TOKEN_PATTERN)


def experiments(attributes: str) -> str:
    """``exp.<id>`` entries of an attribute map, prefix stripped, tokens only."""
    prefix = grammar.PREFIX
    return (
        f"mapApply((k, v) -> (substring(k, {len(prefix) + 1}), v), mapFilter((k, v) -> "
        f"startsWith(k, {literal(prefix)}) AND match(substring(k, {len(prefix) + 1}), {TOKEN}) "
        f"AND match(v, {TOKEN}), {attributes}))"
    )


def _flag_pairs(keys: str, variants: str) -> str:
    return (
        f"mapFilter((k, v) -> match(k, {TOKEN}) AND match(v, {TOKEN}), "
        f"mapFromArrays({keys}, {variants}))"
    )


def _flag_variant(attributes: str) -> str:
    return (
        f"if({attributes}['feature_flag.result.variant'] != '', "
        f"{attributes}['feature_flag.result.variant'], {attributes}['feature_flag.variant'])"
    )


def flag_experiments(names: str, attributes: str) -> str:
    """Assignments from ``feature_flag.evaluation`` span events (OpenTelemetry conventions),
    given the events' name and attribute-map arrays."""
    flags = f"arrayFilter((a, n) -> n = 'feature_flag.evaluation', {attributes}, {names})"
    return _flag_pairs(
        f"arrayMap(a -> a['feature_flag.key'], {flags})",
        f"arrayMap(a -> {_flag_variant('a')}, {flags})",
    )


def flag_from_log(event_name: str, attributes: str) -> str:
    """Assignment from a ``feature_flag.evaluation`` log event."""
    pair = _flag_pairs(f"[{attributes}['feature_flag.key']]", f"[{_flag_variant(attributes)}]")
    return f"if({event_name} = 'feature_flag.evaluation', {pair}, map())"


def artifacts(experiments_map: str) -> str:
    """``<experiment>.<kind>: value`` for each assignment's artifacts in the registry."""
    lookup = f"dictGetOrDefault({literal(ARTIFACTS_DICT)}, 'artifacts', (x, v), map())"
    each = f"{experiments_map}"
    return (
        f"mapFromArrays("
        f"arrayFlatten(arrayMap((x, v) -> arrayMap(k -> concat(x, '.', k), mapKeys({lookup})), "
        f"mapKeys({each}), mapValues({each}))), "
        f"arrayFlatten(arrayMap((x, v) -> mapValues({lookup}), mapKeys({each}), mapValues({each}))))"
    )


# -- tables ----------------------------------------------------------------------------------

TRACE_ID_TS_TABLE = load_table("tables/otel_traces_trace_id_ts")

UNIT_ATTRIBUTES = (UNIT_MEMBER, "user.id", "session.id", "device.id", "enduser.id")
"""Span attributes that can name a randomization unit: ``exptrace.unit`` (the keyed hash the
middleware carries) and OpenTelemetry's identity attributes. :data:`REQUESTS_TABLE` keeps
their hashes; a fixed list, because reading a few known keys is much cheaper at ingest than
filtering every attribute map."""


REQUESTS_TABLE = load_table("tables/exptrace_requests")
"""What reports read instead of grouping every span again: per trace, per experiment its spans
carry (and ``''`` for a root that carries none), per insert block, the partial facts that merge into
one request: the earliest span by :data:`REQUEST_ORDER` (root first) with its outcome,
service and route (``http.route``, else the span name), the variants seen (contamination
when the least and greatest differ) and the unit attributes, hashed (``cityHash64``; the raw
ids stay in the spans only). A trace whose spans arrive in several exports has several rows; queries merge them."""

REQUEST_ORDER = (
    "bitOr(bitOr(bitShiftLeft(toUInt128(ParentSpanId != ''), 127), "
    "bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64)), "
    "toUInt128(cityHash64(SpanId)))"
)
"""One number per span: the root first, then the earliest start, then a hash of SpanId, so the
same spans always give the same first span."""

_EMPTY_HASH = "cityHash64('')"
_UNIT_HASHES = ",\n        ".join(
    f"cityHash64(SpanAttributes[{literal(name)}]) AS unit_{i}"
    for i, name in enumerate(UNIT_ATTRIBUTES)
)
_UNITS = (
    f"mapFilter((k, v) -> v != {_EMPTY_HASH}, map("
    + ", ".join(
        f"{literal(name)}, argMinIf(unit_{i}, order_key, unit_{i} != {_EMPTY_HASH})"
        for i, name in enumerate(UNIT_ATTRIBUTES)
    )
    + ")) AS Units"
)
"""Per unit attribute, the hash of the earliest span's value that has one (none: left out)."""

REQUESTS_SELECT = view_text(
    "views/exptrace_requests_mv",
    units=_UNITS,
    order_key=REQUEST_ORDER,
    unit_hashes=_UNIT_HASHES,
)

METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
"""The metric tables (``otel_metrics_<kind>``), in the exporter's order."""
REGISTRY = ("exptrace_experiments",)
REGISTRY_TABLES = [load_table(f"registry/{name}") for name in REGISTRY]
"""The part of the registry ingest reads (its dictionaries: the allow-list, artifact links),
one template each (``sql/registry/<name>.sql``) loaded through :data:`REGISTRY`: experiments,
append-only versions. The rest of the registry (audit, freeze and decision logs, the
watcher's findings, rounds and alert deliveries) is the query layer's, handed over as
:attr:`Schema.query_tables`."""
