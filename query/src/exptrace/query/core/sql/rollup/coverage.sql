-- What the roller has rolled: the first and last minute, how many minutes, the hours and the
-- days.
SELECT minIf(Period, Grain = 60) AS first, maxIf(Period, Grain = 60) AS last,
       uniqExactIf(Period, Grain = 60) AS minutes,
       arraySort(groupUniqArrayIf(Period, Grain = 3600)) AS hours,
       arraySort(groupUniqArrayIf(Period, Grain = 86400)) AS days
FROM exptrace_rollups
