-- The watcher's findings: a row each time a rule's state changes, append-only.
CREATE TABLE exptrace_watch_findings (
    at DateTime64(3),
    experiment_id String,
    variant String,
    rule LowCardinality(String),
    state LowCardinality(String),
    detail String
)
ENGINE = MergeTree
ORDER BY (experiment_id, variant, rule, at)
