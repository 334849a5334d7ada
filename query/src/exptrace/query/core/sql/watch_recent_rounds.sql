-- The watcher's latest {limit} rounds, newest first: when, how many running experiments it
-- evaluated, how many rule states changed, how long it took, and the error if it failed.
SELECT toString(at) AS at, experiments, changes, seconds, error
FROM exptrace_watch_rounds
ORDER BY at DESC
LIMIT {limit:UInt64}
