-- with: report_parts
-- The arms of each experiment in {starts} over its whole window, as groups of units
-- (core/unit_groups.py turns them into arms); units are counted where first seen (every
-- unit of these experiments was first seen inside its window: see core/rollup.py).
SELECT
    experiment, variant, identified, unit_group, requests, errors, mixed, rooted, units,
    mapKeys(histogram) AS bins, mapValues(histogram) AS counts,
    -- the arm's histogram (per variant, identified or not), on its first group's row only
    if(first, mapKeys(arm), []) AS arm_bins, if(first, mapValues(arm), []) AS arm_counts
FROM (
    SELECT
        experiment, variant, identified, unit_group,
        sum(requests) AS requests, sum(errors) AS errors, sum(mixed_requests) AS mixed,
        sum(rooted) AS rooted, sum(new_units) AS units, sumMap(latency) AS histogram,
        sumMap(histogram) OVER arm AS arm,
        row_number() OVER arm = 1 AS first
    FROM parts
    GROUP BY experiment, variant, identified, unit_group
    WINDOW arm AS (PARTITION BY experiment, variant, identified)
)
ORDER BY experiment, variant, identified, unit_group
