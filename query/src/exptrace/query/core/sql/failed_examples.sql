-- with: requests_in_window
-- Examples of one arm's failed requests ({experiment} = {variant}) in the window, the latest
-- first, {limit} of them, for people to open in a trace viewer: the trace id as the trace
-- and log tables hold it, when the request started, the edge's service and route, its
-- duration, and up to 5 of the trace's log records (time, severity, body), errors first.
failed AS (
    SELECT trace, at, service, route, duration_ms
    FROM requests
    WHERE NOT mixed AND failed AND variant = {variant:String}
    ORDER BY at DESC, trace
    LIMIT {limit:UInt32}
),
ids AS (
    SELECT cityHash64(TraceId) AS trace, any(TraceId) AS trace_id
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND cityHash64(TraceId) IN (SELECT trace FROM failed)
    GROUP BY trace
),
trace_logs AS (
    SELECT TraceId AS trace_id,
           arraySlice(arraySort(r -> (r.2 NOT IN ('ERROR', 'FATAL'), r.1),
                                groupArray((Timestamp, SeverityText, Body))), 1, 5) AS logs
    FROM otel_logs
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND TraceId IN (SELECT trace_id FROM ids)
    GROUP BY TraceId
)
SELECT i.trace_id AS trace_id, f.at AS at, f.service AS service, f.route AS route,
       f.duration_ms AS duration_ms, l.logs AS logs
FROM failed AS f
INNER JOIN ids AS i ON f.trace = i.trace
LEFT JOIN trace_logs AS l ON l.trace_id = i.trace_id
ORDER BY at DESC, trace_id
