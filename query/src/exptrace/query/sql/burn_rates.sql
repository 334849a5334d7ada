-- with: requests_in_window
-- Error-budget burn per (experiment, variant) over 5m, 30m, 1h, 6h and 3d before {end}
-- ({start} is 3 days before it), against the registered availability SLO (or
-- default_availability). Requests as the report counts them (`requests_in_window`);
-- contaminated (mixed) traces are left out. The most burning first (the highest rate of any
-- window against the budget), {limit} rows from {offset}; total_rows: how many in all.
slos AS (
    SELECT experiment_id AS experiment, argMax(slo, version) AS slo
    FROM exptrace_experiments GROUP BY experiment_id
)
SELECT
    experiment, variant,
    if(slos.slo['availability'] > 0, slos.slo['availability'], {default_availability:Float64}) AS availability_target,
    countIf(failed AND at >= {end:DateTime64(9)} - INTERVAL 300 SECOND) / greatest(countIf(at >= {end:DateTime64(9)} - INTERVAL 300 SECOND), 1) AS error_rate_5m,
    countIf(at >= {end:DateTime64(9)} - INTERVAL 300 SECOND) AS requests_5m,
    countIf(failed AND at >= {end:DateTime64(9)} - INTERVAL 1800 SECOND) / greatest(countIf(at >= {end:DateTime64(9)} - INTERVAL 1800 SECOND), 1) AS error_rate_30m,
    countIf(at >= {end:DateTime64(9)} - INTERVAL 1800 SECOND) AS requests_30m,
    countIf(failed AND at >= {end:DateTime64(9)} - INTERVAL 3600 SECOND) / greatest(countIf(at >= {end:DateTime64(9)} - INTERVAL 3600 SECOND), 1) AS error_rate_1h,
    countIf(at >= {end:DateTime64(9)} - INTERVAL 3600 SECOND) AS requests_1h,
    countIf(failed AND at >= {end:DateTime64(9)} - INTERVAL 21600 SECOND) / greatest(countIf(at >= {end:DateTime64(9)} - INTERVAL 21600 SECOND), 1) AS error_rate_6h,
    countIf(at >= {end:DateTime64(9)} - INTERVAL 21600 SECOND) AS requests_6h,
    countIf(failed AND at >= {end:DateTime64(9)} - INTERVAL 259200 SECOND) / greatest(countIf(at >= {end:DateTime64(9)} - INTERVAL 259200 SECOND), 1) AS error_rate_3d,
    countIf(at >= {end:DateTime64(9)} - INTERVAL 259200 SECOND) AS requests_3d,
    count() OVER () AS total_rows
FROM (SELECT * FROM requests WHERE NOT mixed) AS requests
LEFT JOIN slos ON slos.experiment = requests.experiment
GROUP BY experiment, variant, availability_target
ORDER BY greatest(error_rate_5m, error_rate_30m, error_rate_1h, error_rate_6h, error_rate_3d)
         / (1 - availability_target) DESC, experiment, variant
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
