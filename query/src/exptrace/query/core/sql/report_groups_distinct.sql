-- with: report_parts
-- As report_groups, for windows some of whose units were first seen before them: each
-- group's distinct units (merged distinct-count states; slower).
SELECT
    experiment, variant, identified, unit_group,
    sum(requests) AS requests, sum(errors) AS errors, sum(mixed_requests) AS mixed,
    sum(rooted) AS rooted, uniqExactMerge(units) AS units,
    sumMap(latency) AS histogram, mapKeys(histogram) AS bins, mapValues(histogram) AS counts
FROM parts
GROUP BY experiment, variant, identified, unit_group
ORDER BY experiment, variant, identified, unit_group
