-- Share of entry spans (requests) that carry any assignment, per service, route and bucket.
SELECT
    ServiceName AS service,
    if(HttpRoute != '', HttpRoute, SpanName) AS route,
    toStartOfInterval(Timestamp, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
    count() AS requests,
    countIf(length(Experiments) > 0) AS tagged,
    tagged / requests AS coverage
FROM otel_traces
WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')
GROUP BY service, route, bucket
ORDER BY service, route, bucket
