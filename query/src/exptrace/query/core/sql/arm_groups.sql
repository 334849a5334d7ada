-- with: report_parts
-- The unit groups of `parts` summed per group, with each group's requests at or below each
-- quantile in {quantiles} of its arm (per variant, identified or not): the bins below the
-- arm's bin of the quantile, and the same fraction of that bin as the arm's (read as spread
-- evenly within it: core/unit_groups.py's Histogram). report_groups and
-- report_groups_distinct read them.
groups AS (
    SELECT
        experiment, variant, identified, unit_group,
        sum(requests) AS requests, sum(errors) AS errors, sum(mixed_requests) AS mixed,
        sum(rooted) AS rooted,
        sum(new_units) AS new_units,  -- users counted where first seen
        uniqExactMerge(units) AS distinct_units,  -- read only where asked for (slower)
        sumMap(latency) AS histogram,
        sumMap(histogram) OVER arm AS arm,
        row_number() OVER arm = 1 AS first
    FROM parts
    GROUP BY experiment, variant, identified, unit_group
    WINDOW arm AS (PARTITION BY experiment, variant, identified)
),
arm_groups AS (
    SELECT
        *,
        mapKeys(arm) AS arm_keys,
        mapValues(arm) AS arm_values,
        arrayCumSum(arm_values) AS cumulative,
        -- quantileExact's rule: the value at 0-based position floor(level * n)
        arrayMap(level -> floor(level * arraySum(arm_values)) + 1, {quantiles:Array(Float64)})
            AS positions,
        arrayMap(p -> arrayFirstIndex(c -> c >= p, cumulative), positions) AS cut_at,
        arrayMap(
            (p, i) -> (
                arm_keys[i],
                (p - (cumulative[i] - arm_values[i])) / arm_values[i]
            ),
            positions, cut_at) AS cuts,
        if(empty(arm_values), arrayMap(level -> 0.0, {quantiles:Array(Float64)}),
           arrayMap(cut -> arraySum(arrayMap(
                        (b, c) -> if(b < cut.1, toFloat64(c), if(b = cut.1, cut.2 * c, 0.0)),
                        mapKeys(histogram), mapValues(histogram))),
                    cuts)) AS below,
        if(first, arm_keys, []) AS arm_bins,
        if(first, arm_values, []) AS arm_counts
    FROM groups
)
