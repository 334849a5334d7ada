-- The watcher's state: per experiment, variant and rule, the latest finding (the state it
-- entered, when, and the evaluation that moved it); only {experiment} unless it is empty.
-- variant is empty for experiment-wide rules (srm).
SELECT
    experiment_id AS experiment,
    variant,
    rule,
    argMax(state, at) AS state,
    toString(max(at)) AS since,
    argMax(detail, at) AS detail
FROM exptrace_watch_findings
WHERE empty({experiment:String}) OR experiment_id = {experiment:String}
GROUP BY experiment_id, variant, rule
ORDER BY experiment_id, variant, rule
