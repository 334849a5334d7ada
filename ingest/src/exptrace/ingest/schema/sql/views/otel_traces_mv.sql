-- Spans out of the export requests in otel_traces_landing: one row per span, attributes
-- converted to text and redacted ({placeholders} are expressions the schema fills in).
SELECT
    fromUnixTimestamp64Nano(toInt64(s.start_time_unix_nano)) AS Timestamp,
    lower(hex(s.trace_id)) AS TraceId,
    lower(hex(s.span_id)) AS SpanId,
    lower(hex(s.parent_span_id)) AS ParentSpanId,
    s.trace_state AS TraceState,
    {span_name} AS SpanName,
    {span_kind} AS SpanKind,
    ResourceAttributes['service.name'] AS ServiceName,
    {resource_attributes} AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    {span_attributes} AS SpanAttributes,
    toUInt64(greatest(s.end_time_unix_nano, s.start_time_unix_nano) - s.start_time_unix_nano) AS Duration,
    {status_code} AS StatusCode,
    {status_message} AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), s.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, s.events) AS `Events.Name`,
    arrayMap((e, o) -> {event_attributes},
        s.events, event_offsets) AS `Events.Attributes`,
    arrayMap(l -> lower(hex(l.trace_id)), s.links) AS `Links.TraceId`,
    arrayMap(l -> lower(hex(l.span_id)), s.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, s.links) AS `Links.TraceState`,
    arrayMap((l, o) -> {link_attributes},
        s.links, link_offsets) AS `Links.Attributes`
FROM (
    SELECT rs, ss, s,
        arrayConcat(rs.resource.attributes, s.attributes,
            arrayFlatten(arrayMap(e -> e.attributes, s.events)),
            arrayFlatten(arrayMap(l -> l.attributes, s.links))) AS attrs,
        {texts} AS texts,
        arrayMap(e -> length(e.attributes), s.events) AS event_lengths,
        {event_offsets} AS event_offsets,
        arrayMap(l -> length(l.attributes), s.links) AS link_lengths,
        {link_offsets} AS link_offsets
    FROM otel_traces_landing
    ARRAY JOIN resource_spans AS rs
    ARRAY JOIN rs.scope_spans AS ss
    ARRAY JOIN ss.spans AS s
)
