-- with: report_parts
-- Error-budget burn per (experiment, variant) over each window of {windows} (seconds before
-- {end}): requests and errors per window as arrays in the order given, the arm's first
-- request (how much of each window has data), the registered availability SLO (or
-- default_availability) and control, and control's requests and errors in the same windows.
-- Requests as the report counts them, contaminated (mixed) traces left out: from the rolled
-- unit groups (core/rollup.py's ReadPlan: whole hours only before the shorter windows
-- start, whose first minute is then read whole) and the request facts in [{start}, {end})
-- after them; with nothing rolled in the plan (exact), from the request facts alone. The
-- largest excess over control first (the highest excess error rate of any window against
-- the budget), {limit} rows from {offset}; total_rows: how many in all.
registered AS (
    SELECT experiment_id AS experiment, argMax(slo, version) AS slo,
           argMax(control, version) AS control
    FROM exptrace_experiments GROUP BY experiment_id
),
arms AS (
    SELECT experiment, variant, sumForEach(r) AS requests, sumForEach(e) AS errors,
           min(first_at) AS first_at
    FROM (
        SELECT experiment, variant,
               arrayMap(w -> if(period >= {end:DateTime64(9)} - toIntervalSecond(w), requests, 0),
                        {windows:Array(UInt32)}) AS r,
               arrayMap(w -> if(period >= {end:DateTime64(9)} - toIntervalSecond(w), errors, 0),
                        {windows:Array(UInt32)}) AS e,
               toDateTime64(period, 9) AS first_at
        FROM rolled
        WHERE requests > 0
        UNION ALL
        SELECT experiment, variant,
               arrayMap(w -> toUInt64(at >= {end:DateTime64(9)} - toIntervalSecond(w)),
                        {windows:Array(UInt32)}) AS r,
               arrayMap(w -> toUInt64(failed AND at >= {end:DateTime64(9)} - toIntervalSecond(w)),
                        {windows:Array(UInt32)}) AS e,
               at AS first_at
        FROM requests
        WHERE NOT mixed
    )
    GROUP BY experiment, variant
),
rows AS (
    SELECT
        a.experiment AS experiment, a.variant AS variant,
        if(r.slo['availability'] > 0, r.slo['availability'], {default_availability:Float64}) AS availability_target,
        if(r.control != '', r.control, 'control') AS control,
        a.requests AS requests, a.errors AS errors, toString(a.first_at) AS first_at
    FROM arms AS a
    LEFT JOIN registered AS r ON r.experiment = a.experiment
)
SELECT
    rows.experiment AS experiment, rows.variant AS variant, availability_target, control,
    rows.requests AS requests, rows.errors AS errors, first_at,
    if(empty(c.requests), arrayMap(w -> toUInt64(0), {windows:Array(UInt32)}), c.requests) AS control_requests,
    if(empty(c.errors), arrayMap(w -> toUInt64(0), {windows:Array(UInt32)}), c.errors) AS control_errors,
    count() OVER () AS total_rows
FROM rows
LEFT JOIN arms AS c ON c.experiment = rows.experiment AND c.variant = rows.control
ORDER BY if(rows.variant = control, 0,
            arrayMax(arrayMap((e, n, ce, cn) -> e / greatest(n, 1) - ce / greatest(cn, 1),
                              errors, rows.requests, control_errors, control_requests)))
         / (1 - availability_target) DESC, experiment, variant
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
