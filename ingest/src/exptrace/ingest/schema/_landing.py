"""Landing tables: the OTLP export requests as the engine parses them (``Protobuf`` format).

Each landing table has the Null engine and one column per top-level request field, typed as
the nested Tuple/Array structure of the message; materialized views turn them into rows.
Column and element names follow the proto field names, which is how the engine maps them.
``AnyValue`` is recursive, so an array or key-value list value lands as its serialized bytes
(the schema declares those two fields ``bytes``, which reads the same wire data) and
:mod:`exptrace.ingest.schema._anyvalue` turns it into JSON; the ``value`` Enum is the oneof presence
column (``input_format_protobuf_oneof_presence=1``).
"""

from __future__ import annotations

_ANY_CASES = (
    "'none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, "
    "'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7, 'string_value_strindex' = 8"
)
ANY_VALUE = (
    "Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64, "
    "array_value String, kvlist_value String, bytes_value String, "
    f"value Enum8({_ANY_CASES}))"
)
ATTRIBUTES = f"Array(Tuple(key String, value {ANY_VALUE}))"
RESOURCE = f"Tuple(attributes {ATTRIBUTES}, dropped_attributes_count UInt32)"
SCOPE = f"Tuple(name String, version String, attributes {ATTRIBUTES})"

SPAN = (
    "Tuple(trace_id String, span_id String, trace_state String, parent_span_id String, "
    "flags UInt32, name String, kind Int32, start_time_unix_nano UInt64, "
    f"end_time_unix_nano UInt64, attributes {ATTRIBUTES}, dropped_attributes_count UInt32, "
    f"events Array(Tuple(time_unix_nano UInt64, name String, attributes {ATTRIBUTES})), "
    "links Array(Tuple(trace_id String, span_id String, trace_state String, "
    f"attributes {ATTRIBUTES}, flags UInt32)), "
    "status Tuple(message String, code Int32))"
)
TRACES = (
    f"resource_spans Array(Tuple(resource {RESOURCE}, "
    f"scope_spans Array(Tuple(scope {SCOPE}, spans Array({SPAN}), schema_url String)), "
    "schema_url String))"
)

LOG_RECORD = (
    "Tuple(time_unix_nano UInt64, observed_time_unix_nano UInt64, severity_number Int32, "
    f"severity_text String, body {ANY_VALUE}, attributes {ATTRIBUTES}, "
    "dropped_attributes_count UInt32, flags UInt32, trace_id String, span_id String, "
    "event_name String)"
)
LOGS = (
    f"resource_logs Array(Tuple(resource {RESOURCE}, "
    f"scope_logs Array(Tuple(scope {SCOPE}, log_records Array({LOG_RECORD}), schema_url String)), "
    "schema_url String))"
)

_NUMBER_CASES = "'none' = 0, 'as_double' = 4, 'as_int' = 6"
_EXEMPLAR_CASES = "'none' = 0, 'as_double' = 3, 'as_int' = 6"
EXEMPLAR = (
    f"Tuple(filtered_attributes {ATTRIBUTES}, time_unix_nano UInt64, as_double Float64, "
    f"as_int Int64, value Enum8({_EXEMPLAR_CASES}), span_id String, trace_id String)"
)
NUMBER_POINT = (
    f"Tuple(attributes {ATTRIBUTES}, start_time_unix_nano UInt64, time_unix_nano UInt64, "
    f"as_double Float64, as_int Int64, value Enum8({_NUMBER_CASES}), "
    f"exemplars Array({EXEMPLAR}), flags UInt32)"
)
HISTOGRAM_POINT = (
    f"Tuple(attributes {ATTRIBUTES}, start_time_unix_nano UInt64, time_unix_nano UInt64, "
    "count UInt64, sum Nullable(Float64), bucket_counts Array(UInt64), "
    f"explicit_bounds Array(Float64), exemplars Array({EXEMPLAR}), flags UInt32, "
    "min Nullable(Float64), max Nullable(Float64))"
)
EXP_HISTOGRAM_POINT = (
    f"Tuple(attributes {ATTRIBUTES}, start_time_unix_nano UInt64, time_unix_nano UInt64, "
    "count UInt64, sum Nullable(Float64), scale Int32, zero_count UInt64, "
    "positive Tuple(offset Int32, bucket_counts Array(UInt64)), "
    "negative Tuple(offset Int32, bucket_counts Array(UInt64)), flags UInt32, "
    f"exemplars Array({EXEMPLAR}), min Nullable(Float64), max Nullable(Float64), "
    "zero_threshold Float64)"
)
SUMMARY_POINT = (
    f"Tuple(attributes {ATTRIBUTES}, start_time_unix_nano UInt64, time_unix_nano UInt64, "
    "count UInt64, sum Float64, "
    "quantile_values Array(Tuple(quantile Float64, value Float64)), flags UInt32)"
)
_METRIC_CASES = (
    "'none' = 0, 'gauge' = 5, 'sum' = 7, 'histogram' = 9, 'exponential_histogram' = 10, "
    "'summary' = 11"
)
METRIC = (
    "Tuple(name String, description String, unit String, "
    f"gauge Tuple(data_points Array({NUMBER_POINT})), "
    f"sum Tuple(data_points Array({NUMBER_POINT}), aggregation_temporality Int32, "
    "is_monotonic Bool), "
    f"histogram Tuple(data_points Array({HISTOGRAM_POINT}), aggregation_temporality Int32), "
    f"exponential_histogram Tuple(data_points Array({EXP_HISTOGRAM_POINT}), "
    "aggregation_temporality Int32), "
    f"summary Tuple(data_points Array({SUMMARY_POINT})), "
    f"data Enum8({_METRIC_CASES}))"
)
METRICS = (
    f"resource_metrics Array(Tuple(resource {RESOURCE}, "
    f"scope_metrics Array(Tuple(scope {SCOPE}, metrics Array({METRIC}), schema_url String)), "
    "schema_url String))"
)
