"""Every table and view exptrace keeps, in one place, with a version and forward migrations.

Output tables keep the names and columns of the OpenTelemetry Collector's ClickHouse exporter
(``otel_traces``, ``otel_logs``, ``otel_metrics_*``, ``otel_traces_trace_id_ts``) plus
``Experiments``, ``Artifacts`` and ``IngestTime``. Landing tables (Null engine) take raw OTLP
requests, parsed by the engine, and materialized views do the per-row work: flattening,
attribute conversion, redaction, experiment extraction and artifact links. The same
definitions render the single-node form (chDB, one server) and the cluster form
(``ON CLUSTER``, Replicated engines, Distributed tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exptrace.ingest import landing
from exptrace.ingest.redaction import Redaction
from exptrace.ingest.sqltext import identifier, literal

SCHEMA_VERSION = 1

ATTR_MAP = "Map(LowCardinality(String), String)"
EXPERIMENTS = "Map(LowCardinality(String), LowCardinality(String))"
OURS = f"""
    Experiments {EXPERIMENTS} CODEC(ZSTD(1)),
    Artifacts Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    IngestTime DateTime64(3) DEFAULT now64(3) CODEC(Delta, ZSTD(1))"""
EXPERIMENT_INDEXES = """
    INDEX idx_exp_key mapKeys(Experiments) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_exp_value mapValues(Experiments) TYPE bloom_filter(0.01) GRANULARITY 1"""
TOKEN = "^[A-Za-z0-9._-]{1,64}$"  # noqa: S105 (the token grammar, not a secret)
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


@dataclass(frozen=True)
class View:
    name: str
    target: str
    select: str


@dataclass(frozen=True)
class Dictionary:
    name: str
    body: str


@dataclass
class Schema:
    """The DDL for one deployment: retention, redaction and database are its parameters."""

    retention_days: int = 30
    redaction: Redaction = field(default_factory=Redaction)
    database: str = "default"
    known_only: bool = False
    """Keep only experiments registered in the registry in ``Experiments`` (an allow-list);
    the raw ``exp.*`` attributes stay in the attribute maps either way."""
    query_views: tuple[tuple[str, str], ...] = ()
    """``(name, select)`` parameterized views handed over by the query layer."""

    def __post_init__(self) -> None:
        identifier(self.database)
        if not isinstance(self.retention_days, int) or self.retention_days < 0:
            raise ValueError("retention_days must be a whole number of days, 0 for none")

    # -- rendering ---------------------------------------------------------------------

    def statements(self, cluster: str | None = None) -> list[str]:
        """CREATE statements, dependencies first; ``cluster`` renders the cluster form."""
        on = f" ON CLUSTER {identifier(cluster)}" if cluster else ""
        out = []
        for table in self.tables():
            out += self._table(table, cluster, on)
        for dictionary in self.dictionaries():
            out.append(f"CREATE DICTIONARY IF NOT EXISTS {dictionary.name}{on} {dictionary.body}")
        for view in self.views():
            target = (
                f"{view.target}_local" if cluster and self._is_stored(view.target) else view.target
            )
            out.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view.name}{on} TO {target} AS {view.select}"
            )
        return out

    def view_names(self) -> list[str]:
        """Materialized views, recreated when their definitions change."""
        return [v.name for v in self.views()]

    def query_view_statements(self, cluster: str | None = None) -> list[str]:
        """The handed-over query views, replaced in place on every start (no window)."""
        on = f" ON CLUSTER {identifier(cluster)}" if cluster else ""
        return [
            f"CREATE OR REPLACE VIEW {identifier(name)}{on} AS {select}"
            for name, select in self.query_views
        ]

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
            clauses.append(f"TTL {table.ttl_column} + toIntervalDay({int(self.retention_days)})")
        settings = ["non_replicated_deduplication_window = 10000"]
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

    # -- definitions ---------------------------------------------------------------------

    def tables(self) -> list[Table]:
        return [
            Table(
                "exptrace_schema",
                "version UInt32, applied_at DateTime64(3) DEFAULT now64(3), description String",
                order_by="version",
            ),
            *REGISTRY_TABLES,
            Table("otel_traces_landing", landing.TRACES, engine="Null"),
            Table("otel_logs_landing", landing.LOGS, engine="Null"),
            Table("otel_metrics_landing", landing.METRICS, engine="Null"),
            TRACES_TABLE,
            TRACE_ID_TS_TABLE,
            LOGS_TABLE,
            *METRIC_TABLES.values(),
        ]

    def dictionaries(self) -> list[Dictionary]:
        source = (
            "SELECT experiment_id, variant, artifacts FROM ("
            "SELECT experiment_id, argMax(artifacts, version) AS a "
            f"FROM {self.database}.exptrace_experiments GROUP BY experiment_id) "
            "ARRAY JOIN mapKeys(a) AS variant, mapValues(a) AS artifacts"
        )
        known = (
            "SELECT experiment_id, argMax(status, version) AS status "
            f"FROM {self.database}.exptrace_experiments GROUP BY experiment_id"
        )
        return [
            Dictionary(
                KNOWN_DICT,
                "(experiment_id String, status String) PRIMARY KEY experiment_id "
                f"SOURCE(CLICKHOUSE(QUERY {literal(known)})) "
                "LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 10 MAX 30)",
            ),
            Dictionary(
                ARTIFACTS_DICT,
                "(experiment_id String, variant String, artifacts Map(String, String)) "
                "PRIMARY KEY experiment_id, variant "
                f"SOURCE(CLICKHOUSE(QUERY {literal(source)})) "
                "LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 10 MAX 30)",
            ),
        ]

    def views(self) -> list[View]:
        r = self.redaction
        span_experiments = (
            f"mapUpdate(mapUpdate({experiments('ResourceAttributes')}, "
            f"{flag_experiments('s.events')}), {experiments('SpanAttributes')})"
        )
        log_experiments = (
            f"mapUpdate(mapUpdate({experiments('ResourceAttributes')}, "
            f"{flag_from_log('l.event_name', 'LogAttributes')}), {experiments('LogAttributes')})"
        )
        traces = f"""
SELECT
    fromUnixTimestamp64Nano(toInt64(s.start_time_unix_nano)) AS Timestamp,
    lower(hex(s.trace_id)) AS TraceId,
    lower(hex(s.span_id)) AS SpanId,
    lower(hex(s.parent_span_id)) AS ParentSpanId,
    s.trace_state AS TraceState,
    s.name AS SpanName,
    {span_kind("s.kind")} AS SpanKind,
    ResourceAttributes['service.name'] AS ServiceName,
    {r.attributes("rs.resource.attributes")} AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    {r.attributes("s.attributes")} AS SpanAttributes,
    toUInt64(greatest(s.end_time_unix_nano, s.start_time_unix_nano) - s.start_time_unix_nano) AS Duration,
    {status_code("s.status.code")} AS StatusCode,
    {r.text("s.status.message")} AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), s.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, s.events) AS `Events.Name`,
    arrayMap(e -> {r.attributes("e.attributes")}, s.events) AS `Events.Attributes`,
    arrayMap(l -> lower(hex(l.trace_id)), s.links) AS `Links.TraceId`,
    arrayMap(l -> lower(hex(l.span_id)), s.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, s.links) AS `Links.TraceState`,
    arrayMap(l -> {r.attributes("l.attributes")}, s.links) AS `Links.Attributes`,
    {self._known(span_experiments)} AS Experiments,
    {artifacts("Experiments")} AS Artifacts
FROM otel_traces_landing
ARRAY JOIN resource_spans AS rs
ARRAY JOIN rs.scope_spans AS ss
ARRAY JOIN ss.spans AS s"""
        trace_id_ts = """
SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM otel_traces WHERE TraceId != '' GROUP BY TraceId"""
        logs = f"""
SELECT
    fromUnixTimestamp64Nano(toInt64(if(l.time_unix_nano = 0, l.observed_time_unix_nano, l.time_unix_nano))) AS Timestamp,
    toDateTime(Timestamp) AS TimestampTime,
    lower(hex(l.trace_id)) AS TraceId,
    lower(hex(l.span_id)) AS SpanId,
    toUInt8(bitAnd(l.flags, 255)) AS TraceFlags,
    l.severity_text AS SeverityText,
    toUInt8(l.severity_number) AS SeverityNumber,
    ResourceAttributes['service.name'] AS ServiceName,
    {r.text(any_value("l.body"))} AS Body,
    rl.schema_url AS ResourceSchemaUrl,
    {r.attributes("rl.resource.attributes")} AS ResourceAttributes,
    sl.schema_url AS ScopeSchemaUrl,
    sl.scope.name AS ScopeName,
    sl.scope.version AS ScopeVersion,
    {r.attributes("sl.scope.attributes")} AS ScopeAttributes,
    {r.attributes("l.attributes")} AS LogAttributes,
    l.event_name AS EventName,
    {self._known(log_experiments)} AS Experiments,
    {artifacts("Experiments")} AS Artifacts
FROM otel_logs_landing
ARRAY JOIN resource_logs AS rl
ARRAY JOIN rl.scope_logs AS sl
ARRAY JOIN sl.log_records AS l"""
        views = [
            View("otel_traces_mv", "otel_traces", traces),
            View("otel_traces_trace_id_ts_mv", "otel_traces_trace_id_ts", trace_id_ts),
            View("otel_logs_mv", "otel_logs", logs),
        ]
        for kind in METRIC_TABLES:
            views.append(
                View(f"otel_metrics_{kind}_mv", f"otel_metrics_{kind}", self._metric(kind))
            )
        return views

    def _known(self, experiments_map: str) -> str:
        if not self.known_only:
            return experiments_map
        return f"mapFilter((k, v) -> dictHas({literal(KNOWN_DICT)}, tuple(k)), {experiments_map})"

    def _metric(self, kind: str) -> str:
        r = self.redaction
        point_experiments = (
            f"mapUpdate({experiments('ResourceAttributes')}, {experiments('Attributes')})"
        )
        common = f"""
    {r.attributes("rm.resource.attributes")} AS ResourceAttributes,
    rm.schema_url AS ResourceSchemaUrl,
    sm.scope.name AS ScopeName,
    sm.scope.version AS ScopeVersion,
    {r.attributes("sm.scope.attributes")} AS ScopeAttributes,
    toUInt32(0) AS ScopeDroppedAttrCount,
    sm.schema_url AS ScopeSchemaUrl,
    ResourceAttributes['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    {r.attributes("dp.attributes")} AS Attributes,
    fromUnixTimestamp64Nano(toInt64(dp.start_time_unix_nano)) AS StartTimeUnix,
    fromUnixTimestamp64Nano(toInt64(dp.time_unix_nano)) AS TimeUnix,
    dp.flags AS Flags,
    {self._known(point_experiments)} AS Experiments,
    {artifacts("Experiments")} AS Artifacts"""
        exemplars = f""",
    arrayMap(x -> {r.attributes("x.filtered_attributes")}, dp.exemplars) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> fromUnixTimestamp64Nano(toInt64(x.time_unix_nano)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> if(x.value = 'as_int', toFloat64(x.as_int), x.as_double), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> lower(hex(x.span_id)), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> lower(hex(x.trace_id)), dp.exemplars) AS `Exemplars.TraceId`"""
        specific = {
            "gauge": f""",
    if(dp.value = 'as_int', toFloat64(dp.as_int), dp.as_double) AS Value{exemplars}""",
            "sum": f""",
    if(dp.value = 'as_int', toFloat64(dp.as_int), dp.as_double) AS Value,
    m.sum.aggregation_temporality AS AggregationTemporality,
    m.sum.is_monotonic AS IsMonotonic{exemplars}""",
            "histogram": f""",
    dp.count AS Count, ifNull(dp.sum, 0) AS Sum, dp.bucket_counts AS BucketCounts,
    dp.explicit_bounds AS ExplicitBounds, ifNull(dp.min, 0) AS Min, ifNull(dp.max, 0) AS Max,
    m.histogram.aggregation_temporality AS AggregationTemporality{exemplars}""",
            "exponential_histogram": f""",
    dp.count AS Count, ifNull(dp.sum, 0) AS Sum, dp.scale AS Scale, dp.zero_count AS ZeroCount,
    dp.positive.offset AS PositiveOffset, dp.positive.bucket_counts AS PositiveBucketCounts,
    dp.negative.offset AS NegativeOffset, dp.negative.bucket_counts AS NegativeBucketCounts,
    ifNull(dp.min, 0) AS Min, ifNull(dp.max, 0) AS Max,
    m.exponential_histogram.aggregation_temporality AS AggregationTemporality{exemplars}""",
            "summary": """,
    dp.count AS Count, dp.sum AS Sum,
    arrayMap(q -> q.quantile, dp.quantile_values) AS `ValueAtQuantiles.Quantile`,
    arrayMap(q -> q.value, dp.quantile_values) AS `ValueAtQuantiles.Value`""",
        }[kind]
        return f"""
SELECT{common}{specific}
FROM otel_metrics_landing
ARRAY JOIN resource_metrics AS rm
ARRAY JOIN rm.scope_metrics AS sm
ARRAY JOIN sm.metrics AS m
ARRAY JOIN m.{kind}.data_points AS dp
WHERE m.data = '{kind}'"""

    def migrations(self) -> dict[int, list[str]]:
        """Statements that bring a store at version N-1 to version N (none yet past 1)."""
        return {}


# -- SQL building blocks ------------------------------------------------------------------


def span_kind(expr: str) -> str:
    names = "['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer']"
    return f"transform({expr}, [0, 1, 2, 3, 4, 5], {names}, 'Unspecified')"


def status_code(expr: str) -> str:
    return f"transform({expr}, [0, 1, 2], ['Unset', 'Ok', 'Error'], 'Unset')"


def _scalar(v: str, json: bool) -> str:
    """Text of a non-recursive AnyValue tuple ``v``; JSON-quoted strings when ``json``."""
    text = f"toJSONString({v}.string_value)" if json else f"{v}.string_value"
    data = f"base64Encode({v}.bytes_value)"
    if json:
        data = f"toJSONString({data})"
    missing = "'null'" if json else "''"
    return (
        f"multiIf({v}.value = 'string_value', {text}, "
        f"{v}.value = 'int_value', toString({v}.int_value), "
        f"{v}.value = 'double_value', toString({v}.double_value), "
        f"{v}.value = 'bool_value', if({v}.bool_value, 'true', 'false'), "
        f"{v}.value = 'bytes_value', {data}, {missing})"
    )


def any_value(v: str) -> str:
    """The Collector exporter's text form of an AnyValue: scalars as text, arrays/maps as JSON."""
    array = (
        f"concat('[', arrayStringConcat(arrayMap(x -> {_scalar('x', True)}, "
        f"{v}.array_value.values), ','), ']')"
    )
    kvlist = (
        f"concat('{{', arrayStringConcat(arrayMap(x -> concat(toJSONString(x.key), ':', "
        f"{_scalar('x.value', True)}), {v}.kvlist_value.values), ','), '}}')"
    )
    return (
        f"multiIf({v}.value = 'array_value', {array}, "
        f"{v}.value = 'kvlist_value', {kvlist}, {_scalar(v, False)})"
    )


def experiments(attributes: str) -> str:
    """``exp.<id>`` entries of an attribute map, prefix stripped, tokens only."""
    return (
        f"mapApply((k, v) -> (substring(k, 5), v), mapFilter((k, v) -> startsWith(k, 'exp.') "
        f"AND match(substring(k, 5), {literal(TOKEN)}) AND match(v, {literal(TOKEN)}), "
        f"{attributes}))"
    )


def _flag_pairs(keys: str, variants: str) -> str:
    return (
        f"mapFilter((k, v) -> match(k, {literal(TOKEN)}) AND match(v, {literal(TOKEN)}), "
        f"mapFromArrays({keys}, {variants}))"
    )


def flag_experiments(events: str) -> str:
    """Assignments from ``feature_flag.evaluation`` span events (OpenTelemetry conventions)."""
    flags = f"arrayFilter(e -> e.name = 'feature_flag.evaluation', {events})"
    attr = "arrayFirst(a -> a.key = {key}, e.attributes).value.string_value"
    key = attr.format(key="'feature_flag.key'")
    variant = (
        "if("
        + attr.format(key="'feature_flag.result.variant'")
        + " != '', "
        + attr.format(key="'feature_flag.result.variant'")
        + ", "
        + attr.format(key="'feature_flag.variant'")
        + ")"
    )
    return _flag_pairs(f"arrayMap(e -> {key}, {flags})", f"arrayMap(e -> {variant}, {flags})")


def flag_from_log(event_name: str, attributes: str) -> str:
    """Assignment from a ``feature_flag.evaluation`` log event."""
    variant = (
        f"if({attributes}['feature_flag.result.variant'] != '', "
        f"{attributes}['feature_flag.result.variant'], {attributes}['feature_flag.variant'])"
    )
    pair = _flag_pairs(f"[{attributes}['feature_flag.key']]", f"[{variant}]")
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

TRACES_TABLE = Table(
    "otel_traces",
    f"""
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes {ATTR_MAP}) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes {ATTR_MAP}) CODEC(ZSTD(1)),
    HttpRoute LowCardinality(String) CODEC(ZSTD(1)),
    HttpStatusCode UInt16 CODEC(ZSTD(1)),{OURS},
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,{EXPERIMENT_INDEXES}""",
    order_by="(ServiceName, SpanName, toDateTime(Timestamp))",
    partition_by="toDate(Timestamp)",
    ttl_column="toDateTime(Timestamp)",
)

TRACE_ID_TS_TABLE = Table(
    "otel_traces_trace_id_ts",
    """
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1""",
    order_by="(TraceId, Start)",
    partition_by="toDate(Start)",
    ttl_column="toDateTime(Start)",
)

LOGS_TABLE = Table(
    "otel_logs",
    f"""
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    LogAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),{OURS},
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,{EXPERIMENT_INDEXES}""",
    order_by="(ServiceName, TimestampTime, Timestamp)",
    primary_key="(ServiceName, TimestampTime)",
    partition_by="toDate(TimestampTime)",
    ttl_column="TimestampTime",
)

_METRIC_COMMON = f"""
    ResourceAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes {ATTR_MAP} CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes {ATTR_MAP} CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),"""
_EXEMPLARS = f"""
    Exemplars Nested (FilteredAttributes {ATTR_MAP}, TimeUnix DateTime64(9), Value Float64,
        SpanId String, TraceId String) CODEC(ZSTD(1)),"""
_METRIC_TAIL = f"""
    Flags UInt32 CODEC(ZSTD(1)),{OURS},
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,{EXPERIMENT_INDEXES}"""
_METRIC_SPECIFIC = {
    "gauge": f"Value Float64 CODEC(ZSTD(1)),{_EXEMPLARS}",
    "sum": f"""Value Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Bool CODEC(Delta, ZSTD(1)),{_EXEMPLARS}""",
    "histogram": f"""Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),{_EXEMPLARS}""",
    "exponential_histogram": f"""Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),{_EXEMPLARS}""",
    "summary": """Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (Quantile Float64, Value Float64) CODEC(ZSTD(1)),""",
}
METRIC_TABLES = {
    kind: Table(
        f"otel_metrics_{kind}",
        _METRIC_COMMON + "\n    " + specific + _METRIC_TAIL,
        order_by="(ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))",
        partition_by="toDate(TimeUnix)",
        ttl_column="toDateTime(TimeUnix)",
    )
    for kind, specific in _METRIC_SPECIFIC.items()
}

REGISTRY_TABLES = [
    Table(
        "exptrace_experiments",
        """
    experiment_id String,
    version UInt64,
    name String,
    owner String,
    description String,
    status LowCardinality(String),
    variants Map(String, Float64),
    control String,
    artifacts Map(String, Map(String, String)),
    scope Array(String),
    slo Map(String, Float64),
    start_time Nullable(DateTime64(3)),
    end_time Nullable(DateTime64(3)),
    changed_at DateTime64(3),
    changed_by String""",
        order_by="(experiment_id, version)",
    ),
    Table(
        "exptrace_audit",
        """
    at DateTime64(3),
    actor String,
    experiment_id String,
    action LowCardinality(String),
    old String,
    new String""",
        order_by="(experiment_id, at)",
    ),
]
