-- Per service hop: the share of downstream spans (and logs) in tagged traces that still carry
-- the tags of the trace's tagged root.
WITH tagged AS (
    SELECT TraceId, ServiceName AS entry_service, Experiments AS entry_experiments
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND ParentSpanId = '' AND SpanKind IN ('Server', 'Consumer') AND length(Experiments) > 0
),
spans AS (
    SELECT s.TraceId AS TraceId, s.SpanId AS SpanId, s.ParentSpanId AS ParentSpanId,
           s.ServiceName AS service,
           hasAll(mapKeys(s.Experiments), mapKeys(t.entry_experiments)) AS carries
    FROM otel_traces AS s INNER JOIN tagged AS t ON s.TraceId = t.TraceId
    WHERE s.Timestamp >= {start:DateTime64(9)} AND s.Timestamp < {end:DateTime64(9)} + INTERVAL 1 HOUR
)
SELECT
    'span' AS signal,
    ifNull(p.service, '') AS from_service,
    c.service AS service,
    count() AS items,
    countIf(c.carries) AS carrying,
    carrying / items AS coverage
FROM spans AS c LEFT JOIN spans AS p ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
WHERE c.ParentSpanId = '' OR p.service != c.service
GROUP BY from_service, service
UNION ALL
SELECT
    'log' AS signal, '' AS from_service, l.ServiceName AS service,
    count() AS items,
    countIf(hasAll(mapKeys(l.Experiments), mapKeys(t.entry_experiments))) AS carrying,
    carrying / items AS coverage
FROM otel_logs AS l INNER JOIN tagged AS t ON l.TraceId = t.TraceId
WHERE l.Timestamp >= {start:DateTime64(9)} AND l.Timestamp < {end:DateTime64(9)} + INTERVAL 1 HOUR
GROUP BY service
ORDER BY signal DESC, coverage, service
