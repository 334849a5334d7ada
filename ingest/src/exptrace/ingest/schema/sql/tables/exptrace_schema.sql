-- The store's schema version and the settings it was created with (one row per start that changed them).
CREATE TABLE exptrace_schema (version UInt32, applied_at DateTime64(3) DEFAULT now64(3), description String, settings String DEFAULT '')
ENGINE = MergeTree
ORDER BY version
