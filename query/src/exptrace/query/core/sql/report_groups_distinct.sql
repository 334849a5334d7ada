-- with: report_parts
-- As report_groups, for windows some of whose units were first seen before them: each
-- group's distinct units (merged distinct-count states; slower).
SELECT
    experiment, variant, identified, unit_group, requests, errors, mixed, rooted, units,
    mapKeys(histogram) AS bins, mapValues(histogram) AS counts,
    -- the arm's histogram (per variant, identified or not), on its first group's row only
    if(first, mapKeys(arm), []) AS arm_bins, if(first, mapValues(arm), []) AS arm_counts
FROM (
    SELECT
        experiment, variant, identified, unit_group,
        sum(requests) AS requests, sum(errors) AS errors, sum(mixed_requests) AS mixed,
        sum(rooted) AS rooted, uniqExactMerge(units) AS units, sumMap(latency) AS histogram,
        sumMap(histogram) OVER arm AS arm,
        row_number() OVER arm = 1 AS first
    FROM parts
    GROUP BY experiment, variant, identified, unit_group
    WINDOW arm AS (PARTITION BY experiment, variant, identified)
)
ORDER BY experiment, variant, identified, unit_group
