-- with: requests_in_window
-- The outcomes incident attribution weighs, with their trace's experiment, variant and unit.
-- Without a scope: the requests as the report counts them (each trace's root). With
-- {service} (and {route}): the entry spans of that service; with {route} alone, the roots
-- on that route; each takes the experiments of its trace. Contaminated traces are left out.
-- `identified`: the request's trace carries a unit id (else `unit` is the trace itself).
-- `scoped` holds every outcome in a scope, tagged or not.
scoped AS (
    SELECT cityHash64(TraceId) AS trace, Timestamp AS at,
           StatusCode = 'Error' OR HttpStatusCode >= 500 AS failed, Duration / 1e6 AS duration_ms
    FROM otel_traces
    WHERE ({service:String} != '' OR {route:String} != '')
      AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
      AND if({service:String} = '', ParentSpanId = '',
             ServiceName = {service:String} AND SpanKind IN ('Server', 'Consumer'))
      AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})
),
outcomes AS (
    SELECT experiment, variant, unit, identified, at, failed, duration_ms
    FROM requests
    WHERE NOT mixed AND {service:String} = '' AND {route:String} = ''
    UNION ALL
    SELECT r.experiment AS experiment, r.variant AS variant, r.unit AS unit,
           r.identified AS identified, s.at AS at, s.failed AS failed, s.duration_ms AS duration_ms
    FROM scoped AS s
    INNER JOIN (SELECT experiment, trace, variant, unit, identified FROM requests WHERE NOT mixed)
        AS r ON s.trace = r.trace
)
