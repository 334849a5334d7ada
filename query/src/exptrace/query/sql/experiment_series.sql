-- Error rate and p95 latency of each variant of one experiment, per time bucket.
-- A request is a trace; its variant, outcome and duration are those of its first entry span
-- that carries the experiment (as in exptrace_experiment_report).
SELECT
    toStartOfInterval(at, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
    variant,
    count() AS requests,
    countIf(failed) AS errors,
    errors / requests AS error_rate,
    quantileTDigest(0.95)(duration / 1e6) AS p95_ms
FROM (
    SELECT
        argMin((Experiments[{experiment:String}], (StatusCode = 'Error' OR HttpStatusCode >= 500), Duration), Timestamp) AS first_span,
        tupleElement(first_span, 1) AS variant,
        tupleElement(first_span, 2) AS failed,
        tupleElement(first_span, 3) AS duration,
        min(Timestamp) AS at
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
      AND SpanKind IN ('Server', 'Consumer') AND Experiments[{experiment:String}] != ''
    GROUP BY TraceId
)
GROUP BY bucket, variant
ORDER BY bucket, variant
