-- with: requests_in_window
-- Which experiment did that? One row per (experiment, variant) seen in the window, summed
-- over randomization units for the delta method. Without a scope, the outcomes are the
-- requests as the report counts them (each trace's root); with {service} (and {route}), the
-- entry spans of that service, with {route} alone the roots on that route, each taking the
-- experiments of its trace. Contaminated traces are left out. all_errors: every failed
-- request in scope, tagged or not.
scoped AS (
    SELECT cityHash64(TraceId) AS trace, StatusCode = 'Error' OR HttpStatusCode >= 500 AS failed,
           Duration / 1e6 AS duration_ms
    FROM otel_traces
    WHERE ({service:String} != '' OR {route:String} != '')
      AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
      AND if({service:String} = '', ParentSpanId = '',
             ServiceName = {service:String} AND SpanKind IN ('Server', 'Consumer'))
      AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})
),
outcomes AS (
    SELECT experiment, variant, unit, failed, duration_ms
    FROM requests
    WHERE NOT mixed AND {service:String} = '' AND {route:String} = ''
    UNION ALL
    SELECT r.experiment AS experiment, r.variant AS variant, r.unit AS unit,
           s.failed AS failed, s.duration_ms AS duration_ms
    FROM scoped AS s
    INNER JOIN (SELECT experiment, trace, variant, unit FROM requests WHERE NOT mixed) AS r
        ON s.trace = r.trace
),
units AS (
    SELECT experiment, variant, unit,
           count() AS m, countIf(failed) AS e, groupArray(duration_ms) AS durations
    FROM outcomes
    GROUP BY experiment, variant, unit
)
SELECT
    experiment, variant,
    count() AS units,
    sum(m) AS requests,
    sum(e) AS errors,
    sum(m * m) AS requests_sq,
    sum(e * e) AS errors_sq,
    sum(e * m) AS errors_m,
    quantileExactArray(0.95)(durations) AS p95_ms,
    if({service:String} = '' AND {route:String} = '',
       (SELECT countIf(Failed) FROM exptrace_requests
        WHERE Experiment = '' AND Start >= {start:DateTime64(9)} AND Start < {end:DateTime64(9)}),
       (SELECT countIf(failed) FROM scoped)) AS all_errors
FROM units
GROUP BY experiment, variant
ORDER BY experiment, variant
