-- The watcher's rounds: one row per round, append-only.
CREATE TABLE exptrace_watch_rounds (
    at DateTime64(3),
    experiments UInt32,
    changes UInt32,
    seconds Float64,
    error String
)
ENGINE = MergeTree
ORDER BY at
