-- The freeze log: when changes to the registry were frozen and thawed, append-only.
CREATE TABLE exptrace_freezes (
    at DateTime64(3),
    actor String,
    frozen Bool,
    reason String
)
ENGINE = MergeTree
ORDER BY at
