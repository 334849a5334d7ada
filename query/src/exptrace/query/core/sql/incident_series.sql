-- with: incident_outcomes
-- Failed requests per (experiment, variant) per time bucket, over the outcomes incident
-- attribution weighs (`incident_outcomes`), for the {top} arms with the most failed requests
-- in the window (ties: by name).
SELECT bucket, experiment, variant, requests, errors
FROM (
SELECT *, dense_rank() OVER (ORDER BY arm_errors DESC, experiment, variant) AS arm_rank
FROM (
SELECT
    toStartOfInterval(at, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
    experiment,
    variant,
    count() AS requests,
    countIf(failed) AS errors,
    sum(countIf(failed)) OVER (PARTITION BY experiment, variant) AS arm_errors
FROM outcomes
GROUP BY bucket, experiment, variant
)
)
WHERE arm_rank <= {top:UInt32}
ORDER BY bucket, experiment, variant
