-- with: report_parts
-- The arms of each experiment in {starts} over its whole window, as groups of units
-- (core/unit_groups.py turns them into arms); units are counted where first seen (every
-- unit of these experiments was first seen inside its window: see core/rollup.py).
SELECT
    experiment, variant, identified, unit_group,
    sum(requests) AS requests, sum(errors) AS errors, sum(mixed_requests) AS mixed,
    sum(rooted) AS rooted, sum(new_units) AS units,
    sumMap(latency) AS histogram, mapKeys(histogram) AS bins, mapValues(histogram) AS counts
FROM parts
GROUP BY experiment, variant, identified, unit_group
ORDER BY experiment, variant, identified, unit_group
