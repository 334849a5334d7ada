-- with: arm_groups
-- As report_groups, for windows some of whose units were first seen before them: each
-- group's distinct units (merged distinct-count states; slower).
SELECT experiment, variant, identified, unit_group, requests, errors, mixed, rooted,
       distinct_units AS units, below, arm_bins, arm_counts
FROM arm_groups
ORDER BY experiment, variant, identified, unit_group
