-- Alert deliveries: each target's cursor into the findings (the newest one sent), append-only.
CREATE TABLE exptrace_alert_deliveries (
    at DateTime64(3),
    target String,
    ok Bool,
    alerts UInt32,
    through DateTime64(3),
    error String
)
ENGINE = MergeTree
ORDER BY (target, at)
