-- What the roller has rolled: the first and last minute, how many minutes, and the hours.
SELECT minIf(Period, Grain = 60) AS first, maxIf(Period, Grain = 60) AS last,
       uniqExactIf(Period, Grain = 60) AS minutes,
       arraySort(groupUniqArrayIf(Period, Grain = 3600)) AS hours
FROM exptrace_rollups
