-- Failed requests per (experiment, variant) per time bucket, in an optional service/route
-- scope, for the {top} arms with the most failed requests in the window (ties: by name). A
-- request is a trace (each service's own entry span when a service is named).
SELECT bucket, experiment, variant, requests, errors
FROM (
SELECT *, dense_rank() OVER (ORDER BY arm_errors DESC, experiment, variant) AS arm_rank
FROM (
SELECT
    toStartOfInterval(at, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
    experiment,
    variant,
    count() AS requests,
    countIf(failed) AS errors,
    sum(countIf(failed)) OVER (PARTITION BY experiment, variant) AS arm_errors
FROM (
    SELECT
        experiment,
        argMin((span_variant, (StatusCode = 'Error' OR HttpStatusCode >= 500)), Timestamp) AS first_span,
        tupleElement(first_span, 1) AS variant,
        tupleElement(first_span, 2) AS failed,
        min(Timestamp) AS at
    FROM otel_traces
    ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS span_variant
    WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')
      AND ({service:String} = '' OR ServiceName = {service:String})
      AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})
    GROUP BY if({service:String} != '', cityHash64(SpanId), cityHash64(TraceId)), experiment
)
GROUP BY bucket, experiment, variant
)
)
WHERE arm_rank <= {top:UInt32}
ORDER BY bucket, experiment, variant
