-- What exptrace_artifact_links loads, from the registry in {database}. Rendered on one line.
SELECT experiment_id, variant, artifacts
FROM (SELECT experiment_id, argMax(artifacts, version) AS a
    FROM {database}.exptrace_experiments GROUP BY experiment_id)
ARRAY JOIN mapKeys(a) AS variant, mapValues(a) AS artifacts
