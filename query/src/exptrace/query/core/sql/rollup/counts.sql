-- Request facts of any experiment per minute in [{start}, {end}): what a minute's roll
-- records (a different count later means late data).
SELECT toDateTime(toStartOfMinute(Start)) AS minute, count() AS facts
FROM exptrace_requests
WHERE Experiment != '' AND Start >= {start:DateTime} AND Start < {end:DateTime}
GROUP BY minute
