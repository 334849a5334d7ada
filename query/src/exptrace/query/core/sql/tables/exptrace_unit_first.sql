-- Where each identified unit of each experiment was first seen: the minute of its first
-- request (not contaminated) and that request's variant, written by the roller
-- (core/rollup.py) so unit groups count each unit once (NewUnits) and a report over an
-- experiment's whole run sums units instead of merging distinct-count states. Key is
-- cityHash64(experiment, unit hash): what the readers look units up by.
CREATE TABLE exptrace_unit_first (
    Experiment LowCardinality(String),
    Key UInt64,
    Period DateTime,
    Variant LowCardinality(String)
)
ENGINE = MergeTree
ORDER BY (Experiment, Key)
TTL Period
