-- The watcher's state: per experiment, variant and rule, the latest finding (the state it
-- entered, since when, and the evaluation that moved it) and the state before it, with when
-- that one began (what an alert that just resolved started at); only {experiment} unless it
-- is empty. variant is empty for experiment-wide rules (srm).
SELECT
    experiment,
    variant,
    rule,
    changes[-1].2 AS state,
    toString(changes[-1].1) AS since,
    changes[-1].3 AS detail,
    if(length(changes) > 1, changes[-2].2, '') AS previous,
    if(length(changes) > 1, toString(changes[-2].1), '') AS previous_since
FROM (
    SELECT
        experiment_id AS experiment,
        variant,
        rule,
        arraySort(x -> x.1, groupArray((at, state, detail))) AS changes
    FROM exptrace_watch_findings
    WHERE empty({experiment:String}) OR experiment_id = {experiment:String}
    GROUP BY experiment_id, variant, rule
)
ORDER BY experiment, variant, rule
