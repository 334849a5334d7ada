-- What exptrace_known_experiments loads, from the registry in {database}. Rendered on one line.
SELECT experiment_id, argMax(status, version) AS status
FROM {database}.exptrace_experiments GROUP BY experiment_id
