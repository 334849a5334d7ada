-- with: unit_groups
-- What the roller writes after the minutes in [{start}, {end}): the units first seen there
-- (exptrace_unit_first's columns).
SELECT experiment AS Experiment, key AS Key, toDateTime(toStartOfMinute(at)) AS Period,
       variant AS Variant
FROM flagged
WHERE first_seen
