-- One row per (experiment, request) in [{start}, {end}): every experiment, or only
-- {experiment} when it is not ''. A request is a trace that carries the experiment, merged
-- from exptrace_requests (the partial facts per trace that ingest writes). Its outcome and
-- duration are the trace root's (the edge), whichever span carries the tag; without a root
-- in the store, the earliest tagged span's. A request belongs to the window in which its
-- trace starts (spans up to {trace_horizon_seconds} outside the window are read); ties on
-- equal timestamps break on a hash of SpanId, so the same data always gives the same rows.
-- service and route are the edge's (the root's, else the earliest tagged span's).
-- A trace whose spans disagree on the variant is `mixed` (contamination): kept under its
-- smallest variant, for the queries to count apart. The unit is the trace's unit attribute
-- (its hash, as ingest keeps it): the experiment's in {unit_attributes} (experiment -> the
-- attribute it was registered with), else {unit_attribute}; without one, the trace itself.
-- Roots are looked up (and joined) only for traces whose tagged spans do not include them.
tagged AS MATERIALIZED (
    SELECT
        any(Experiment) AS experiment,
        any(Trace) AS trace,
        min(VariantMin) AS variant,
        max(VariantMax) != variant AS mixed,
        argMinIf(Units[if(mapContains({unit_attributes:Map(String, String)}, Experiment),
                          {unit_attributes:Map(String, String)}[Experiment],
                          {unit_attribute:String})] AS row_unit,
                 FirstKey, row_unit != 0) AS unit_hash,
        max(HasRoot) AS has_root,
        argMin(Failed, FirstKey) AS first_failed,
        argMin(Duration, FirstKey) AS first_duration,
        argMin(Service, FirstKey) AS first_service,
        argMin(Route, FirstKey) AS first_route,
        min(Start) AS first_at
    FROM exptrace_requests
    WHERE Experiment != '' AND ({experiment:String} = '' OR Experiment = {experiment:String})
      AND Start >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Start < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
    -- one 64-bit key per (experiment, trace): several times faster to group than the pair
    GROUP BY bitXor(Trace, cityHash64(Experiment))
),
roots AS (
    SELECT Trace AS trace, argMin(Failed, FirstKey) AS root_failed,
           argMin(Duration, FirstKey) AS root_duration, argMin(Service, FirstKey) AS root_service,
           argMin(Route, FirstKey) AS root_route, min(Start) AS root_at
    FROM exptrace_requests
    WHERE HasRoot  -- a row holding the root has the root's outcome first, whatever its experiment
      AND Start >= {start:DateTime64(9)} - toIntervalSecond({trace_horizon_seconds:UInt32})
      AND Start < {end:DateTime64(9)} + toIntervalSecond({trace_horizon_seconds:UInt32})
      AND (SELECT countIf(NOT has_root) FROM tagged) > 0  -- usually none: nothing is read
      AND Trace IN (SELECT trace FROM tagged WHERE NOT has_root)
    GROUP BY trace
),
requests AS MATERIALIZED (
    SELECT
        t.experiment AS experiment,
        t.trace AS trace,
        t.mixed AS mixed,
        t.variant AS variant,
        t.unit_hash != 0 AS identified,
        if(identified, t.unit_hash, t.trace) AS unit,
        -- the root's outcome, where it was looked up and found (else the tagged spans' own)
        NOT t.has_root AND r.trace != 0 AS by_root,
        NOT t.has_root AND r.trace = 0 AS rootless,
        if(by_root, r.root_failed, t.first_failed) AS failed,
        if(by_root, r.root_duration, t.first_duration) / 1e6 AS duration_ms,
        if(by_root, r.root_service, t.first_service) AS service,
        if(by_root, r.root_route, t.first_route) AS route,
        if(by_root, least(t.first_at, r.root_at), t.first_at) AS at
    FROM tagged AS t
    LEFT JOIN roots AS r ON t.trace = r.trace
    WHERE at >= {start:DateTime64(9)} AND at < {end:DateTime64(9)}
)
