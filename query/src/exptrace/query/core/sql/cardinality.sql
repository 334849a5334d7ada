-- Per service: distinct experiments, cohorts, variants, and span attribute keys in the window;
-- the most cohorts first, {limit} rows from {offset}; total_rows: how many services in all.
SELECT
    ServiceName AS service,
    uniqExact(experiment) AS experiments,
    uniqExact((experiment, variant)) AS cohorts,
    uniqExact(variant) AS variants,
    (SELECT uniqExact(key) FROM otel_traces ARRAY JOIN mapKeys(SpanAttributes) AS key WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}) AS attribute_keys,
    count() OVER () AS total_rows
FROM otel_traces
ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
GROUP BY service
ORDER BY cohorts DESC, service
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
