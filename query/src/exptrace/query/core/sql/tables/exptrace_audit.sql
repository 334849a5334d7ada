-- The audit log of every registry change (rollbacks and policies included), append-only.
CREATE TABLE exptrace_audit (
    at DateTime64(3),
    actor String,
    experiment_id String,
    action LowCardinality(String),
    old String,
    new String
)
ENGINE = MergeTree
ORDER BY (experiment_id, at)
