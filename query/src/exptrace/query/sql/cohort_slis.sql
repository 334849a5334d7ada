-- Per (experiment, variant), optionally per service and route: requests, errors, availability
-- and t-digest latency quantiles (ms). A request is the first tagged entry span of its trace
-- (ties broken on a hash of SpanId); by_service = 1 counts every service's own entry spans instead.
WITH requests AS (
    SELECT
        experiment,
        argMin((span_variant, (StatusCode = 'Error' OR HttpStatusCode >= 500), Duration, ServiceName, if(HttpRoute != '', HttpRoute, SpanName)), bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64), toUInt128(cityHash64(SpanId)))) AS first_span,
        tupleElement(first_span, 1) AS variant,
        tupleElement(first_span, 2) AS failed,
        tupleElement(first_span, 3) AS duration,
        tupleElement(first_span, 4) AS service,
        tupleElement(first_span, 5) AS route,
        min(Timestamp) AS at
    FROM (
        SELECT Timestamp, TraceId, SpanId, ServiceName, HttpRoute, SpanName, StatusCode,
               HttpStatusCode, Duration, experiment, span_variant
        FROM otel_traces ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS span_variant
        WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')  AND ({experiment:String} = '' OR experiment = {experiment:String})
    )
    GROUP BY if({by_service:UInt8}, cityHash64(SpanId), cityHash64(TraceId)) AS request, experiment
)
SELECT
    experiment, variant,
    if({by_service:UInt8}, service, '') AS service,
    if({by_route:UInt8}, route, '') AS route,
    count() AS requests,
    countIf(failed) AS errors,
    errors / requests AS error_rate,
    1 - error_rate AS availability,
    quantilesTDigest(0.5, 0.9, 0.95, 0.99)(duration / 1e6) AS latency_ms
FROM requests
GROUP BY experiment, variant, service, route
ORDER BY experiment, variant, service, route
