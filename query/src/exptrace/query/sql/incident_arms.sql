-- with: incident_outcomes
-- Which experiment did that? One row per (experiment, variant) seen in the window, summed
-- over randomization units for the delta method, over the outcomes in scope
-- (`incident_outcomes`). all_errors: every failed request in scope, tagged or not.
units AS (
    SELECT experiment, variant, unit,
           count() AS m, countIf(failed) AS e, groupArray(duration_ms) AS durations
    FROM outcomes
    GROUP BY experiment, variant, unit
)
SELECT
    experiment, variant,
    count() AS units,
    sum(m) AS requests,
    sum(e) AS errors,
    sum(m * m) AS requests_sq,
    sum(e * e) AS errors_sq,
    sum(e * m) AS errors_m,
    quantileExactArray(0.95)(durations) AS p95_ms,
    (SELECT countIf(failed) FROM scoped) AS all_errors
FROM units
GROUP BY experiment, variant
ORDER BY experiment, variant
