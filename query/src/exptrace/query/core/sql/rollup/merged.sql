-- What the roller writes for the periods of {grain} seconds (hours, days) in [{start},
-- {end}): each one's unit groups merged from the latest roll of its parts of {parts_grain}
-- seconds (minutes, hours; exptrace_unit_groups' columns), as roll {version}.
SELECT
    experiment AS Experiment, {grain:UInt32} AS Grain, period AS Period,
    {version:UInt64} AS Version, variant AS Variant, identified AS Identified,
    unit_group AS UnitGroup, sum(requests) AS Requests, sum(errors) AS Errors,
    sum(mixed) AS Mixed, sum(rooted) AS Rooted, uniqExactMergeState(units) AS Units,
    sum(new_units) AS NewUnits, sumMap(latency) AS Latency
FROM (
    SELECT Experiment AS experiment,
           toStartOfInterval(Period, toIntervalSecond({grain:UInt32})) AS period,
           Variant AS variant, Identified AS identified, UnitGroup AS unit_group,
           Requests AS requests, Errors AS errors, Mixed AS mixed, Rooted AS rooted,
           Units AS units, NewUnits AS new_units, Latency AS latency
    FROM exptrace_unit_groups
    WHERE Grain = {parts_grain:UInt32} AND Period >= {start:DateTime} AND Period < {end:DateTime}
      AND (Grain, Period, Version) GLOBAL IN (
          SELECT Grain, Period, max(Version) FROM exptrace_rollups
          WHERE Grain = {parts_grain:UInt32}
            AND Period >= {start:DateTime} AND Period < {end:DateTime}
            AND (Grain = 60 OR Source > 0)  -- a retraction has no rows
          GROUP BY Grain, Period)
)
GROUP BY experiment, period, variant, identified, unit_group
