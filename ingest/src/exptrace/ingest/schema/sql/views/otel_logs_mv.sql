-- Log records out of the export requests in otel_logs_landing: one row per record, attributes
-- and body converted to text and redacted ({placeholders} are expressions the schema fills in).
SELECT
    fromUnixTimestamp64Nano(toInt64(if(l.time_unix_nano = 0, l.observed_time_unix_nano, l.time_unix_nano))) AS Timestamp,
    lower(hex(l.trace_id)) AS TraceId,
    lower(hex(l.span_id)) AS SpanId,
    toUInt8(bitAnd(l.flags, 255)) AS TraceFlags,
    l.severity_text AS SeverityText,
    toUInt8(l.severity_number) AS SeverityNumber,
    ResourceAttributes['service.name'] AS ServiceName,
    texts[-1] AS Body,
    rl.schema_url AS ResourceSchemaUrl,
    {resource_attributes} AS ResourceAttributes,
    sl.schema_url AS ScopeSchemaUrl,
    sl.scope.name AS ScopeName,
    sl.scope.version AS ScopeVersion,
    {scope_attributes} AS ScopeAttributes,
    {log_attributes} AS LogAttributes,
    l.event_name AS EventName
FROM (
    SELECT rl, sl, l,
        arrayConcat(rl.resource.attributes, sl.scope.attributes, l.attributes, [{body}]) AS attrs,
        {texts} AS texts
    FROM otel_logs_landing
    ARRAY JOIN resource_logs AS rl
    ARRAY JOIN rl.scope_logs AS sl
    ARRAY JOIN sl.log_records AS l
)
