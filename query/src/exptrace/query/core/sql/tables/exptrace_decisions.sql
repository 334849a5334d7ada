-- The decision log: what was decided about an experiment and why, append-only.
CREATE TABLE exptrace_decisions (
    at DateTime64(3),
    actor String,
    experiment_id String,
    decision LowCardinality(String),
    reason String
)
ENGINE = MergeTree
ORDER BY (experiment_id, at)
