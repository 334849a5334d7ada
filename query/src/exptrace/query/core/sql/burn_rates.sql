-- with: requests_in_window
-- Error-budget burn per (experiment, variant) over each window of {windows} (seconds before
-- {end}; {start} is the longest before it): requests and errors per window as arrays in the
-- order given, the arm's first request (how much of each window has data), the registered
-- availability SLO (or default_availability) and control, and control's requests and errors
-- in the same windows. Requests as the report counts them (`requests_in_window`);
-- contaminated (mixed) traces are left out. The largest excess over control first (the
-- highest excess error rate of any window against the budget), {limit} rows from {offset};
-- total_rows: how many in all.
registered AS (
    SELECT experiment_id AS experiment, argMax(slo, version) AS slo,
           argMax(control, version) AS control
    FROM exptrace_experiments GROUP BY experiment_id
),
arms AS (
    SELECT
        experiment, variant,
        sumForEach(arrayMap(w -> toUInt64(at >= {end:DateTime64(9)} - toIntervalSecond(w)),
                            {windows:Array(UInt32)})) AS requests,
        sumForEach(arrayMap(w -> toUInt64(failed AND at >= {end:DateTime64(9)} - toIntervalSecond(w)),
                            {windows:Array(UInt32)})) AS errors,
        min(at) AS first_at
    FROM requests
    WHERE NOT mixed
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
