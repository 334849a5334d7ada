-- with: requests_in_window
-- Every outcome in an incident's scope, tagged or not: without {service} or {route}, the
-- trace roots in the window; with {service} (and {route}), that service's entry spans;
-- with {route} alone, the roots on that route. What "in scope" means, written once.
scoped AS (
    SELECT cityHash64(TraceId) AS trace, Timestamp AS at,
           StatusCode = 'Error' OR HttpStatusCode >= 500 AS failed, Duration / 1e6 AS duration_ms
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
      AND if({service:String} = '', ParentSpanId = '',
             ServiceName = {service:String} AND SpanKind IN ('Server', 'Consumer'))
      AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})
)
