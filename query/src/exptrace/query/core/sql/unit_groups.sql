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
    SELECT *, identified AND NOT mixed AS counted, cityHash64(experiment, unit) AS key
    FROM requests
    WHERE at >= transform(experiment, {experiments:Array(String)},
                          {live_from:Array(DateTime64(9))}, toDateTime64(0, 9))
),
-- A counted unit's first request here (ordered by time, then trace) is its first in the store
-- unless exptrace_unit_first holds it from before {start}: one pass, no second read of the
-- requests to join them back.
flagged AS (
    SELECT *,
           counted
           AND row_number() OVER (PARTITION BY counted, experiment, unit ORDER BY at, trace) = 1
           AND key NOT IN (
               SELECT Key FROM exptrace_unit_first
               WHERE ({experiment:String} = '' OR Experiment = {experiment:String})
                 AND Period < {start:DateTime64(9)}
                 -- only the units seen around here: a small set to probe the stored ones with
                 AND Key IN (SELECT cityHash64(experiment, unit_hash) FROM tagged
                             WHERE unit_hash != 0)) AS first_seen
    FROM window_requests
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
        uniqExactStateIf(unit, counted) AS units,
        countIf(first_seen) AS new_units,  -- a unit first seen here counts once
        sumMapIf(map(if(duration_ms > 0,
                        toInt16(floor(log(duration_ms) / log({latency_growth:Float64}))),
                        toInt16(-32768)), toUInt64(1)), NOT mixed) AS latency
    FROM flagged
    GROUP BY experiment, period, variant, identified, unit_group
)
