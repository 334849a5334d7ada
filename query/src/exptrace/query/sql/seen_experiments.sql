-- Every experiment that tagged an entry span in the window, registered or not.
SELECT
    experiment,
    arraySort(groupUniqArray(variant)) AS variants,
    count() AS spans,
    max(Timestamp) AS last_seen
FROM otel_traces
ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')
GROUP BY experiment
ORDER BY experiment
