-- Request facts per minute in [{start}, {end}): what a minute's roll records (a different
-- count later means late data). Every fact counts, those of untagged roots too (experiment
-- ''): a root that comes after its tagged spans were rolled changes their requests' outcome.
SELECT toStartOfMinute(Start) AS minute, count() AS facts
FROM exptrace_requests
-- on the minute, as the table's minute_counts projection keeps them: read from there
WHERE minute >= {start:DateTime} AND minute < {end:DateTime}
GROUP BY minute
