-- One row per request (trace) that carries {experiment}: its variant, its randomization
-- unit and its outcome. The outcome and duration are the trace root's (the edge), whichever
-- span carries the tag; without a root in the store, the earliest tagged span's. A trace
-- belongs to the window in which it starts; ties on equal timestamps break on a hash of
-- SpanId, so the same data always gives the same rows. A trace whose spans disagree on the
-- variant is `mixed` (contamination): counted (under its smallest variant), kept out of the
-- arms. Roots are looked up only for traces whose tagged spans do not include the root.
-- Traces and units are keyed by 64-bit hashes of their ids; computed once (MATERIALIZED).
tagged AS MATERIALIZED (
    SELECT
        cityHash64(TraceId) AS trace,
        uniqExact(Experiments[{experiment:String}]) AS seen,
        min(Experiments[{experiment:String}]) AS variant,
        minIf(SpanAttributes[{unit_attribute:String}],
              SpanAttributes[{unit_attribute:String}] != '') AS unit_id,
        countIf(ParentSpanId = '') > 0 AS has_root,
        -- the root first, then the earliest span, then the smallest SpanId hash: one number
        argMin((StatusCode = 'Error' OR HttpStatusCode >= 500, Duration / 1e6),
               bitOr(bitOr(bitShiftLeft(toUInt128(ParentSpanId != ''), 127),
                           bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64)),
                     toUInt128(cityHash64(SpanId)))) AS first_outcome,
        min(Timestamp) AS first_at
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Experiments[{experiment:String}] != ''
    GROUP BY trace
),
roots AS (
    SELECT
        cityHash64(TraceId) AS trace,
        argMin((StatusCode = 'Error' OR HttpStatusCode >= 500, Duration / 1e6),
               bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64),
                     toUInt128(cityHash64(SpanId)))) AS root_outcome,
        min(Timestamp) AS root_at
    FROM otel_traces
    WHERE Timestamp >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Timestamp < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND ParentSpanId = ''
      AND cityHash64(TraceId) IN (SELECT trace FROM tagged WHERE NOT has_root)
    GROUP BY trace
),
requests AS MATERIALIZED (
    SELECT
        t.trace AS trace,
        t.seen > 1 AS mixed,
        t.variant AS variant,
        t.unit_id AS unit_id,
        if(t.unit_id != '', cityHash64(t.unit_id), t.trace) AS unit,
        NOT (t.has_root OR r.trace != 0) AS rootless,
        if(t.has_root OR r.trace = 0, t.first_outcome, r.root_outcome) AS outcome,
        tupleElement(outcome, 1) AS failed,
        tupleElement(outcome, 2) AS duration_ms
    FROM tagged AS t
    LEFT JOIN roots AS r ON t.trace = r.trace
    WHERE if(r.trace != 0, least(t.first_at, r.root_at), t.first_at) >= {start:DateTime64(9)}
      AND if(r.trace != 0, least(t.first_at, r.root_at), t.first_at) < {end:DateTime64(9)}
)
