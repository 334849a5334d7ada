-- with: requests_in_window
-- Error rate and p95 latency of each variant of one experiment, per time bucket: requests as
-- the report counts them (`requests_in_window`), contaminated traces left out.
SELECT
    toStartOfInterval(at, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
    variant,
    count() AS requests,
    countIf(failed) AS errors,
    errors / requests AS error_rate,
    quantileExact(0.95)(duration_ms) AS p95_ms
FROM requests
WHERE NOT mixed
GROUP BY bucket, variant
ORDER BY bucket, variant
