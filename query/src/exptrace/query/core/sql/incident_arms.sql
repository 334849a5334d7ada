-- with: incident_outcomes
-- Which experiment did that? One row per (experiment, variant) seen in the window, summed
-- over randomization units for the delta method, over the outcomes in scope
-- (`incident_outcomes`). all_errors: every failed request in scope, tagged or not. As in the
-- report, once any outcome of an experiment has a unit id, those without one are left out
-- of its arms and counted in `unidentified_requests`.
units AS (
    SELECT experiment, variant, unit, max(identified) AS identified,
           count() AS m, countIf(failed) AS e, groupArray(duration_ms) AS durations
    FROM outcomes
    GROUP BY experiment, variant, unit
),
kept AS (
    -- one pass: whether any unit of the experiment is identified, beside each unit
    SELECT *, identified OR NOT max(identified) OVER (PARTITION BY experiment) AS kept
    FROM units
)
SELECT
    experiment, variant,
    countIf(kept) AS units,
    sumIf(m, kept) AS requests,
    sumIf(m, NOT kept) AS unidentified_requests,
    sumIf(e, kept) AS errors,
    sumIf(m * m, kept) AS requests_sq,
    sumIf(e * e, kept) AS errors_sq,
    sumIf(e * m, kept) AS errors_m,
    quantileExactArrayIf(0.95)(durations, kept) AS p95_ms,
    (SELECT countIf(failed) FROM scoped) AS all_errors
FROM kept
GROUP BY experiment, variant
ORDER BY experiment, variant
