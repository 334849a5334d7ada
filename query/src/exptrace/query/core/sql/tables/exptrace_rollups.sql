-- The roller's ledger: one row per period rolled into exptrace_unit_groups (Grain 60: a
-- minute, 3600: an hour, 86400: a day), the roll's Version, and Source: for a minute, how
-- many request facts (exptrace_requests rows) started in it when rolled (a different count
-- later means late data: the minute is rolled again); for an hour or a day, the newest
-- Version of its minutes or hours, or 0: retracted (written before any of its minutes is
-- rolled again, so no reader takes it for current until it is rolled again).
CREATE TABLE exptrace_rollups (
    Grain UInt32,
    Period DateTime,
    Version UInt64,
    Source UInt64,
    Rolled DateTime64(3)
)
ENGINE = MergeTree
ORDER BY (Grain, Period)
TTL Period
