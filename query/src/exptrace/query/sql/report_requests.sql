-- One row per request (trace) that carries {experiment}: its variant, its randomization
-- unit and its outcome. The outcome and duration are the trace root's (the edge), whichever
-- span carries the tag; without a root in the store, the earliest tagged span's. A trace
-- belongs to the window in which it starts; ties on equal timestamps break on SpanId, so the
-- same data always gives the same rows. A trace whose spans disagree on the variant is
-- `mixed` (contamination): counted, kept out of the arms.
requests AS (
    SELECT
        TraceId,
        uniqExactIf(Experiments[{experiment:String}], Experiments[{experiment:String}] != '') AS seen,
        seen > 1 AS mixed,
        argMinIf(Experiments[{experiment:String}], (Timestamp, SpanId),
                 Experiments[{experiment:String}] != '') AS variant,
        argMinIf(SpanAttributes[{unit_attribute:String}], (Timestamp, SpanId),
                 SpanAttributes[{unit_attribute:String}] != '') AS unit_id,
        if(unit_id != '', unit_id, TraceId) AS unit,
        countIf(ParentSpanId = '') = 0 AS rootless,
        argMin((StatusCode = 'Error' OR HttpStatusCode >= 500, Duration / 1e6),
               (ParentSpanId != '', Timestamp, SpanId)) AS outcome,
        tupleElement(outcome, 1) AS failed,
        tupleElement(outcome, 2) AS duration_ms,
        min(Timestamp) AS started
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND (Experiments[{experiment:String}] != ''
           OR (ParentSpanId = '' AND TraceId IN (
               SELECT TraceId FROM otel_traces
               WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
                 AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
                 AND Experiments[{experiment:String}] != '' AND ParentSpanId != '')))
    GROUP BY TraceId
    HAVING seen > 0 AND started >= {start:DateTime64(9)} AND started < {end:DateTime64(9)}
)
