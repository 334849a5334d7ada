-- Every experiment that tagged an entry span in the window, registered or not; with
-- {unregistered} = 1 only those not in the registry, with a non-empty {only} only those named.
-- {limit} rows from {offset} in experiment order; total_rows: how many there are in all.
SELECT
    experiment,
    arraySort(groupUniqArray(variant)) AS variants,
    count() AS spans,
    max(Timestamp) AS last_seen,
    count() OVER () AS total_rows
FROM otel_traces
ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND SpanKind IN ('Server', 'Consumer')
  AND (empty({only:Array(String)}) OR has({only:Array(String)}, experiment))
  AND NOT ({unregistered:UInt8} AND experiment IN (SELECT experiment_id FROM exptrace_experiments))
GROUP BY experiment
ORDER BY experiment
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
