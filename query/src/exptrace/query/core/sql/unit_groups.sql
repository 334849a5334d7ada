-- with: requests_in_window
-- Every experiment's requests in [{start}, {end}) as groups of units, per minute: the
-- mergeable rows exptrace_unit_groups holds (see its table). A unit's group is a hash of its
-- id (of the trace for requests without a unit) into {groups} groups, so groups are random
-- sets of units and the spread between them carries the unit-level variance. Contaminated
-- requests (mixed) count apart and stay out of the histogram; units are counted for
-- identified requests (a request without a unit is its own unit: core/unit_groups.py counts
-- those as requests), both as a distinct-count state and as new_units: those whose first
-- request in the store (first_seen: not in exptrace_unit_first before {start}) is here.
-- Each experiment in {experiments} counts from its own moment in {live_from} on (to the
-- nanosecond: a window's first, partial minute is read exactly here).
window_requests AS (
    SELECT *
    FROM requests
    WHERE at >= transform(experiment, {experiments:Array(String)},
                          {live_from:Array(DateTime64(9))}, toDateTime64(0, 9))
),
first_seen AS MATERIALIZED (
    SELECT experiment, unit, argMin(trace, (at, trace)) AS first_trace,
           toDateTime(toStartOfMinute(min(at))) AS period, argMin(variant, (at, trace)) AS variant
    FROM window_requests
    WHERE identified AND NOT mixed
      AND cityHash64(experiment, unit) GLOBAL NOT IN (
          SELECT Key FROM exptrace_unit_first
          WHERE ({experiment:String} = '' OR Experiment = {experiment:String})
            AND Period < {start:DateTime64(9)}
            -- only the units seen here: a small set to probe every stored unit against
            AND Key IN (SELECT cityHash64(experiment, unit) FROM requests WHERE identified))
    GROUP BY experiment, unit
),
minute_groups AS (
    SELECT
        experiment,
        toDateTime(toStartOfMinute(at)) AS period,
        variant,
        identified,
        toUInt8(intHash64(unit) % {groups:UInt8}) AS unit_group,
        countIf(NOT mixed) AS requests,
        countIf(NOT mixed AND failed) AS errors,
        countIf(mixed) AS mixed_requests,
        countIf(NOT rootless) AS rooted,
        uniqExactStateIf(unit, identified AND NOT mixed) AS units,
        -- a unit's first request (of those first seen here) counts it once
        countIf(identified AND NOT mixed
                AND (experiment, trace) GLOBAL IN (SELECT experiment, first_trace FROM first_seen))
            AS new_units,
        sumMapIf(map(if(duration_ms > 0,
                        toInt16(floor(log(duration_ms) / log({latency_growth:Float64}))),
                        toInt16(-32768)), toUInt64(1)), NOT mixed) AS latency
    FROM window_requests
    GROUP BY experiment, period, variant, identified, unit_group
)
