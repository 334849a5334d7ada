-- What the roller has rolled: the first and last minute, how many minutes, and the hours and
-- days whose latest roll stands (Source 0 retracts one while its minutes are rolled again).
SELECT minIf(Period, Grain = 60) AS first, maxIf(Period, Grain = 60) AS last,
       uniqExactIf(Period, Grain = 60) AS minutes,
       (SELECT arraySort(groupArrayIf(Period, source > 0)) FROM (
            SELECT Period, argMax(Source, Version) AS source
            FROM exptrace_rollups WHERE Grain = 3600 GROUP BY Period)) AS hours,
       (SELECT arraySort(groupArrayIf(Period, source > 0)) FROM (
            SELECT Period, argMax(Source, Version) AS source
            FROM exptrace_rollups WHERE Grain = 86400 GROUP BY Period)) AS days
FROM exptrace_rollups
