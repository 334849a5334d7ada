-- Metric points out of the export requests in otel_metrics_landing, one view per kind
-- (otel_metrics_<kind>_mv): each kind's own columns are in otel_metrics_mv/<kind>.sql
-- ({placeholders} are expressions the schema fills in).
SELECT
    {resource_attributes} AS ResourceAttributes,
    rm.schema_url AS ResourceSchemaUrl,
    sm.scope.name AS ScopeName,
    sm.scope.version AS ScopeVersion,
    {scope_attributes} AS ScopeAttributes,
    toUInt32(0) AS ScopeDroppedAttrCount,
    sm.schema_url AS ScopeSchemaUrl,
    ResourceAttributes['service.name'] AS ServiceName,
    m.name AS MetricName,
    m.description AS MetricDescription,
    m.unit AS MetricUnit,
    {attributes} AS Attributes,
    fromUnixTimestamp64Nano(toInt64(dp.start_time_unix_nano)) AS StartTimeUnix,
    fromUnixTimestamp64Nano(toInt64(dp.time_unix_nano)) AS TimeUnix,
    dp.flags AS Flags,
    {columns}
FROM (
    SELECT rm, sm, m, dp,
        arrayConcat(rm.resource.attributes, sm.scope.attributes, dp.attributes,
            {exemplar_attributes}) AS attrs,
        {texts} AS texts,
        {exemplar_lengths} AS exemplar_lengths,
        {exemplar_offsets} AS exemplar_offsets
    FROM otel_metrics_landing
    ARRAY JOIN resource_metrics AS rm
    ARRAY JOIN rm.scope_metrics AS sm
    ARRAY JOIN sm.metrics AS m
    ARRAY JOIN m.{kind}.data_points AS dp
    WHERE m.data = '{kind}'
)
