-- Per experiment in {experiments}, how many of its units were first seen before its first
-- minute in {first_minutes} (any: its units are counted as distinct units, not where first
-- seen); {latest:DateTime} is the latest of those minutes.
SELECT Experiment AS experiment, count() AS units
FROM exptrace_unit_first
WHERE Experiment IN {experiments:Array(String)}
  AND Period < {latest:DateTime}
  AND Period < transform(Experiment, {experiments:Array(String)},
                         {first_minutes:Array(DateTime)}, toDateTime(0))
GROUP BY experiment
