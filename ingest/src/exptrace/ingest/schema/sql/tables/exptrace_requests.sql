-- Per trace and experiment, the partial facts of one request (see exptrace_requests_mv); reports read these instead of every span.
-- The projection minute_counts keeps how many facts each experiment has per minute, at every
-- insert: the query layer compares them with what it rolled (late data) without reading the facts.
CREATE TABLE exptrace_requests (
    Experiment LowCardinality(String) CODEC(ZSTD(1)),
    Trace UInt64 CODEC(ZSTD(1)),
    Start DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    FirstKey UInt128 CODEC(ZSTD(1)),
    Failed Bool CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    Service LowCardinality(String) CODEC(ZSTD(1)),
    Route LowCardinality(String) CODEC(ZSTD(1)),
    HasRoot Bool CODEC(ZSTD(1)),
    VariantMin LowCardinality(String) CODEC(ZSTD(1)),
    VariantMax LowCardinality(String) CODEC(ZSTD(1)),
    Units Map(LowCardinality(String), UInt64) CODEC(ZSTD(1)),
    PROJECTION minute_counts (
        SELECT Experiment, toStartOfMinute(Start), count()
        GROUP BY Experiment, toStartOfMinute(Start)
    )
)
ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (Experiment, toStartOfMinute(Start), Trace)
TTL toDateTime(Start)
