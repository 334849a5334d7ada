-- Which experiment did that? One row per (experiment, variant) seen in the window, summed
-- over randomization units for the delta method. The outcomes are the requests in scope:
-- trace roots, or with {service} the entry spans of that service (and {route}), whether or
-- not they carry the tag themselves; each takes the experiments of its trace (the earliest
-- tagged span's variant, ties broken on a hash of SpanId).
WITH tags AS (
    SELECT
        TraceId,
        experiment,
        argMin(span_variant, bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64), toUInt128(cityHash64(SpanId)))) AS variant,
        minIf(SpanAttributes[{unit_attribute:String}],
              SpanAttributes[{unit_attribute:String}] != '') AS unit_id
    FROM otel_traces
    ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS span_variant
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND length(Experiments) > 0
    GROUP BY TraceId, experiment
),
outcomes AS (
    SELECT TraceId, SpanId, StatusCode = 'Error' OR HttpStatusCode >= 500 AS failed,
           Duration / 1e6 AS duration_ms
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
      AND if({service:String} = '', ParentSpanId = '',
             ServiceName = {service:String} AND SpanKind IN ('Server', 'Consumer'))
      AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})
),
units AS (
    SELECT t.experiment AS experiment, t.variant AS variant,
           if(t.unit_id != '', t.unit_id, o.TraceId) AS unit,
           count() AS m, countIf(o.failed) AS e,
           groupArray(o.duration_ms) AS durations
    FROM outcomes AS o
    INNER JOIN tags AS t ON o.TraceId = t.TraceId
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
    (SELECT countIf(failed) FROM outcomes) AS all_errors
FROM units
GROUP BY experiment, variant
ORDER BY experiment, variant
