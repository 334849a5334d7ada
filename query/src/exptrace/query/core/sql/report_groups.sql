-- with: arm_groups
-- The arms of each experiment in {experiments} over its whole window, as groups of units
-- (core/unit_groups.py turns them into arms); units are counted where first seen (every
-- unit of these experiments was first seen inside its window: see core/rollup.py). The
-- arm's histogram (per variant, identified or not) is on its first group's row only.
SELECT experiment, variant, identified, unit_group, requests, errors, mixed, rooted,
       new_units AS units, below, arm_bins, arm_counts
FROM arm_groups
ORDER BY experiment, variant, identified, unit_group
