-- Request facts of any experiment per minute in [{start}, {end}): what a minute's roll
-- records (a different count later means late data).
SELECT toStartOfMinute(Start) AS minute, count() AS facts
FROM exptrace_requests
-- on the minute, as the table's minute_counts projection keeps them: read from there
WHERE Experiment != '' AND minute >= {start:DateTime} AND minute < {end:DateTime}
GROUP BY minute
