-- with: report_parts
-- experiment_series from the unit groups (core/rollup.py's plan: the rolled periods and the
-- request facts after them), for buckets of whole minutes: each variant's requests, errors
-- and latency bins per bucket (core/series.py reads the p95 from the bins, within
-- core/unit_groups.py's relative error). Contaminated requests are left out, as there.
SELECT bucket, variant, requests, errors, error_rate,
       mapKeys(histogram) AS bins, mapValues(histogram) AS counts
FROM (
    SELECT
        toStartOfInterval(period, toIntervalSecond({bucket_seconds:UInt32})) AS bucket,
        variant,
        sum(requests) AS requests,
        sum(errors) AS errors,
        errors / requests AS error_rate,
        sumMap(latency) AS histogram
    FROM parts
    GROUP BY bucket, variant
    HAVING requests > 0
)
ORDER BY bucket, variant
