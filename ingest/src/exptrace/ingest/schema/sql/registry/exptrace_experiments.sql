-- The registry: experiments, append-only versions (the latest version of an experiment is its state).
CREATE TABLE exptrace_experiments (
    experiment_id String,
    version UInt64,
    name String,
    owner String,
    description String,
    status LowCardinality(String),
    variants Map(String, Float64),
    control String,
    artifacts Map(String, Map(String, String)),
    scope Array(String),
    slo Map(String, Float64),
    unit String DEFAULT 'exptrace.unit',
    start_time Nullable(DateTime64(3)),
    end_time Nullable(DateTime64(3)),
    changed_at DateTime64(3),
    changed_by String
)
ENGINE = MergeTree
ORDER BY (experiment_id, version)
