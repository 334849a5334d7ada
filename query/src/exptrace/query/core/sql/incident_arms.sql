-- with: incident_outcomes
-- Which experiment did that? Each treatment seen in the window beside its experiment's
-- control ({controls}: experiment -> control variant, else `control`), each arm summed over
-- randomization units for the delta method, over the outcomes in scope (`incident_outcomes`).
-- A treatment whose control has no unit in scope (`has_control` false) has nothing to be
-- compared with: it is listed after the others, by its errors. As in the report, once
-- any outcome of an experiment has a unit id, those without one are left out of its arms and
-- counted in `unidentified_requests`.
-- `tested`: the score test has something to weigh (two units or more in each arm, and some
-- but not all of their requests failed). Every tested treatment comes back (core/incident.py
-- ranks them first, by Holm-corrected evidence); of the others, ranked after them by their
-- `excess` errors (beyond the control's rate), only those in {limit} rows from {offset} of the
-- whole ranking, so the rows read grow with the evidence, not with the ids in the window.
-- Each row carries its experiment's control (control_*) and the totals: `treatments`,
-- `tested_total`, `controls` (with a unit in scope) and `without_control`; the controls' own
-- rows (`is_control`) are left out but for one.
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
),
arms AS (
    SELECT
        experiment,
        if(mapContains({controls:Map(String, String)}, experiment),
           {controls:Map(String, String)}[experiment], 'control') AS control_variant,
        variant = control_variant AS is_control,
        (variant, countIf(kept), sumIf(m, kept), sumIf(m, NOT kept), sumIf(e, kept),
         sumIf(m * m, kept), sumIf(e * e, kept), sumIf(e * m, kept),
         quantileExactArrayIf(0.95)(durations, kept)) AS arm
    FROM kept
    GROUP BY experiment, variant
),
with_control AS (
    SELECT experiment, control_variant, arm,
           anyIf(arm, is_control) OVER (PARTITION BY experiment) AS control
    FROM arms
),
pairs AS (
    SELECT
        experiment, control_variant,
        arm.1 AS variant, arm.2 AS units, arm.3 AS requests, arm.4 AS unidentified_requests,
        arm.5 AS errors, arm.6 AS requests_sq, arm.7 AS errors_sq, arm.8 AS errors_m,
        arm.9 AS p95_ms,
        control.2 AS control_units,
        control.3 AS control_requests, control.4 AS control_unidentified_requests,
        control.5 AS control_errors, control.6 AS control_requests_sq,
        control.7 AS control_errors_sq, control.8 AS control_errors_m, control.9 AS control_p95_ms,
        variant = control_variant AS is_control,
        control_units > 0 AS has_control,
        NOT is_control AND least(units, control_units) >= 2
            AND errors + control_errors > 0
            AND errors + control_errors < requests + control_requests AS tested,
        if(has_control, errors - requests * (control_errors / control_requests), nan) AS excess
    FROM with_control
),
ranked AS (
    SELECT
        * EXCEPT arm,
        countIf(NOT is_control) OVER () AS treatments,
        countIf(tested) OVER () AS tested_total,
        countIf(is_control AND has_control) OVER () AS controls,
        countIf(NOT is_control AND NOT has_control) OVER () AS without_control,
        row_number() OVER (PARTITION BY is_control, tested
                           ORDER BY has_control DESC, excess DESC, errors DESC, experiment,
                                    variant) AS position
    FROM pairs
)
SELECT * FROM ranked
WHERE tested
   OR position = 1  -- whatever the page, a row carries the totals
   OR (NOT is_control
       AND position > {offset:UInt64} - tested_total
       AND position <= {offset:UInt64} + {limit:UInt64} - tested_total)
ORDER BY experiment, variant
