-- The minutes at or after {end} that counted a unit as first seen there although the roll
-- of [{start}, {end}) has just found it earlier (late data): they are rolled again, so no
-- unit is counted twice.
SELECT DISTINCT later.Period AS minute
FROM exptrace_unit_first AS later
WHERE later.Period >= {end:DateTime}
  AND (later.Experiment, later.Key) GLOBAL IN (
      SELECT Experiment, Key FROM exptrace_unit_first
      WHERE Period >= {start:DateTime} AND Period < {end:DateTime})
