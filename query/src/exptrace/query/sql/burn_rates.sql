-- Error-budget burn per (experiment, variant) over 5m, 30m, 1h, 6h and 3d before {at}, against
-- the registered availability SLO (or default_availability). A request is a tagged trace;
-- its variant and outcome are its first entry span's (ties broken on a hash of SpanId).
-- The most burning first (the highest rate of any window against the budget), {limit} rows
-- from {offset}; total_rows: how many there are in all.
WITH requests AS (
    SELECT experiment, argMin(variant, bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64), toUInt128(cityHash64(SpanId)))) AS variant,
           argMin((StatusCode = 'Error' OR HttpStatusCode >= 500), bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64), toUInt128(cityHash64(SpanId)))) AS failed, min(Timestamp) AS at
    FROM otel_traces
    ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
    WHERE Timestamp >= {at:DateTime64(9)} - INTERVAL 3 DAY AND Timestamp < {at:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')
    GROUP BY TraceId, experiment
),
slos AS (
    SELECT experiment_id AS experiment, argMax(slo, version) AS slo
    FROM exptrace_experiments GROUP BY experiment_id
)
SELECT
    experiment, variant,
    if(slos.slo['availability'] > 0, slos.slo['availability'], {default_availability:Float64}) AS availability_target,
    countIf(failed AND at >= {at:DateTime64(9)} - INTERVAL 300 SECOND) / greatest(countIf(at >= {at:DateTime64(9)} - INTERVAL 300 SECOND), 1) AS error_rate_5m,
    countIf(at >= {at:DateTime64(9)} - INTERVAL 300 SECOND) AS requests_5m,
    countIf(failed AND at >= {at:DateTime64(9)} - INTERVAL 1800 SECOND) / greatest(countIf(at >= {at:DateTime64(9)} - INTERVAL 1800 SECOND), 1) AS error_rate_30m,
    countIf(at >= {at:DateTime64(9)} - INTERVAL 1800 SECOND) AS requests_30m,
    countIf(failed AND at >= {at:DateTime64(9)} - INTERVAL 3600 SECOND) / greatest(countIf(at >= {at:DateTime64(9)} - INTERVAL 3600 SECOND), 1) AS error_rate_1h,
    countIf(at >= {at:DateTime64(9)} - INTERVAL 3600 SECOND) AS requests_1h,
    countIf(failed AND at >= {at:DateTime64(9)} - INTERVAL 21600 SECOND) / greatest(countIf(at >= {at:DateTime64(9)} - INTERVAL 21600 SECOND), 1) AS error_rate_6h,
    countIf(at >= {at:DateTime64(9)} - INTERVAL 21600 SECOND) AS requests_6h,
    countIf(failed AND at >= {at:DateTime64(9)} - INTERVAL 259200 SECOND) / greatest(countIf(at >= {at:DateTime64(9)} - INTERVAL 259200 SECOND), 1) AS error_rate_3d,
    countIf(at >= {at:DateTime64(9)} - INTERVAL 259200 SECOND) AS requests_3d,
    count() OVER () AS total_rows
FROM requests
LEFT JOIN slos ON slos.experiment = requests.experiment
GROUP BY experiment, variant, availability_target
ORDER BY greatest(error_rate_5m, error_rate_30m, error_rate_1h, error_rate_6h, error_rate_3d)
         / (1 - availability_target) DESC, experiment, variant
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
