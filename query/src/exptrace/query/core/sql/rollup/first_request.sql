-- The minute of the earliest request fact of any experiment, and how many facts there are
-- (per minute, as the facts' minute_counts projection keeps them: read from there).
SELECT min(minute) AS first, sum(facts) AS facts
FROM (
    SELECT toStartOfMinute(Start) AS minute, count() AS facts
    FROM exptrace_requests
    WHERE Experiment != ''
    GROUP BY minute
)
