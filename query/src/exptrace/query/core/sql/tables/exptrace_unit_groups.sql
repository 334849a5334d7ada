-- The mergeable form of the experiments' arms, written once by the roller (core/rollup.py)
-- and read by every report and watch round: per experiment, period (a sealed minute, or an
-- hour rolled from its minutes: Grain seconds), roll (Version), variant and group of units
-- (a hash of the unit: core/unit_groups.py's GROUPS), the requests, errors, contaminated and
-- rooted requests, the units (an exact distinct-count state, and NewUnits: those first seen in
-- the period, see exptrace_unit_first) and a log-bucket latency histogram (bin -> requests;
-- core/unit_groups.py holds the bins and their relative error). Readers take the latest
-- Version of each period that exptrace_rollups records; every column merges across periods
-- and across shards.
CREATE TABLE exptrace_unit_groups (
    Experiment LowCardinality(String),
    Grain UInt32,
    Period DateTime,
    Version UInt64,
    Variant LowCardinality(String),
    Identified Bool,
    UnitGroup UInt8,
    Requests UInt64,
    Errors UInt64,
    Mixed UInt64,
    Rooted UInt64,
    Units AggregateFunction(uniqExact, UInt64),
    NewUnits UInt64,
    Latency Map(Int16, UInt64)
)
ENGINE = MergeTree
PARTITION BY toDate(Period)
ORDER BY (Experiment, Grain, Period, Variant, Identified, UnitGroup)
TTL Period
