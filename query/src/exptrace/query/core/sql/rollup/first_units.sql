-- with: unit_groups
-- What the roller writes after the minutes in [{start}, {end}): the units first seen there
-- (exptrace_unit_first's columns).
SELECT experiment AS Experiment, cityHash64(experiment, unit) AS Key, period AS Period,
       variant AS Variant
FROM first_seen
