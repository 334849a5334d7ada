-- with: requests_in_window
-- Per (experiment, variant): requests, errors, availability and exact latency quantiles
-- (ms, the report's rule); every experiment, or only {experiment} when it is not ''. By default the requests
-- are the report's (`requests_in_window`: each trace once, its root's outcome; contaminated
-- traces left out), with by_route = 1 split by the edge's route. With by_service = 1 each
-- service's own entry spans count instead (a service's SLI, split by service and, with
-- by_route, by route), each taking its trace's variant.
SELECT
    experiment, variant,
    if({by_service:UInt8}, service, '') AS service,
    if({by_route:UInt8}, route, '') AS route,
    count() AS requests,
    countIf(failed) AS errors,
    errors / requests AS error_rate,
    1 - error_rate AS availability,
    quantilesExact(0.5, 0.9, 0.95, 0.99)(duration_ms) AS latency_ms
FROM (
    SELECT experiment, variant, service, route, failed, duration_ms
    FROM requests
    WHERE NOT mixed AND NOT {by_service:UInt8}
    UNION ALL
    SELECT r.experiment AS experiment, r.variant AS variant, s.ServiceName AS service,
           if(s.HttpRoute != '', s.HttpRoute, s.SpanName) AS route,
           s.StatusCode = 'Error' OR s.HttpStatusCode >= 500 AS failed,
           s.Duration / 1e6 AS duration_ms
    FROM otel_traces AS s
    INNER JOIN (SELECT experiment, trace, variant FROM requests WHERE NOT mixed) AS r
        ON cityHash64(s.TraceId) = r.trace
    WHERE {by_service:UInt8}
      AND s.Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND s.Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND s.SpanKind IN ('Server', 'Consumer')
)
GROUP BY experiment, variant, service, route
ORDER BY experiment, variant, service, route
