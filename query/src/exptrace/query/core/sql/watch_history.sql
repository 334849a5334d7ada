-- The watcher's history: every change of a rule's state, newest first; only {experiment}
-- unless it is empty. {limit} rows from {offset}; total_rows: how many there are in all.
SELECT
    toString(at) AS at,
    experiment_id AS experiment,
    variant,
    rule,
    state,
    detail,
    count() OVER () AS total_rows
FROM exptrace_watch_findings
WHERE empty({experiment:String}) OR experiment_id = {experiment:String}
ORDER BY at DESC, experiment_id, variant, rule
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
