-- First and last time of each trace, for the lookup table otel_traces_trace_id_ts.
SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM otel_traces WHERE TraceId != '' GROUP BY TraceId
