-- Each hour before {sealed} with its rolled minutes: how many, and their newest roll.
SELECT toStartOfHour(Period) AS hour, max(Version) AS newest, count(DISTINCT Period) AS minutes
FROM exptrace_rollups
WHERE Grain = 60 AND Period < {sealed:DateTime}
GROUP BY hour
