-- with: report_requests
-- The latency (ms) at given CDF levels per variant (levels[i] belong to variants[i]): the
-- ends of each quantile's interval, read from the arm's order statistics.
SELECT
    variant,
    arrayMap(
        level -> arrayElement(sorted, greatest(1, least(length(sorted), toUInt64(ceil(level * length(sorted)))))),
        {levels:Array(Array(Float64))}[indexOf({variants:Array(String)}, variant)]
    ) AS values
FROM (
    SELECT variant, arraySort(groupArrayIf(duration_ms, NOT mixed)) AS sorted
    FROM requests
    WHERE has({variants:Array(String)}, variant)
    GROUP BY variant
)
ORDER BY variant
