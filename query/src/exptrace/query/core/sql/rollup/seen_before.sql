-- Per experiment in {starts}, how many of its units were first seen before the first minute
-- its window reads (any: its units are counted as distinct units, not where first seen).
SELECT Experiment AS experiment, count() AS units
FROM exptrace_unit_first
WHERE mapContains({starts:Map(String, DateTime)}, Experiment)
  AND Period < {starts:Map(String, DateTime)}[Experiment]
GROUP BY experiment
