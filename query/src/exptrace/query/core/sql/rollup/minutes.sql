-- with: unit_groups
-- What the roller writes for the minutes in [{start}, {end}): every experiment's unit groups
-- per minute (exptrace_unit_groups' columns), as roll {version}.
SELECT
    experiment AS Experiment, toUInt32(60) AS Grain, period AS Period,
    {version:UInt64} AS Version, variant AS Variant, identified AS Identified,
    unit_group AS UnitGroup, requests AS Requests, errors AS Errors, mixed_requests AS Mixed,
    rooted AS Rooted, units AS Units, new_units AS NewUnits, latency AS Latency
FROM minute_groups
