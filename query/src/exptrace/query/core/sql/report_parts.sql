-- with: unit_groups
-- The unit groups of each experiment in {starts} (experiment -> the first minute its window
-- reads), in `parts`: the rolled periods of exptrace_unit_groups in {hours} and {minutes}
-- (each period's latest roll; an hour's row where the whole hour is in an experiment's
-- window, else its minutes: core/rollup.py's ReadPlan), and the requests after them, in
-- [{start}, {end}), grouped the same way from the request facts (report_groups and
-- report_groups_distinct sum them per group).
latest AS (
    SELECT Grain, Period, max(Version) AS Version
    FROM exptrace_rollups
    WHERE (Grain = 3600 AND Period IN {hours:Array(DateTime)})
       OR (Grain = 60 AND Period IN {minutes:Array(DateTime)})
    GROUP BY Grain, Period
),
rolled AS (
    SELECT Experiment AS experiment, Variant AS variant, Identified AS identified,
           UnitGroup AS unit_group, Requests AS requests, Errors AS errors,
           Mixed AS mixed_requests, Rooted AS rooted, Units AS units, NewUnits AS new_units,
           Latency AS latency
    FROM exptrace_unit_groups
    WHERE Experiment IN {experiments:Array(String)}
      AND ((Grain = 3600 AND Period IN {hours:Array(DateTime)})
           OR (Grain = 60 AND Period IN {minutes:Array(DateTime)}))
      AND Period >= {starts:Map(String, DateTime)}[Experiment]
      AND (Grain = 3600
           OR toStartOfHour(Period) < {starts:Map(String, DateTime)}[Experiment]
           OR NOT has({hours:Array(DateTime)}, toStartOfHour(Period)))
      AND (Grain, Period, Version) GLOBAL IN (SELECT Grain, Period, Version FROM latest)
),
live AS (
    SELECT experiment, variant, identified, unit_group, requests, errors, mixed_requests,
           rooted, units, new_units, latency
    FROM minute_groups
    WHERE mapContains({starts:Map(String, DateTime)}, experiment)
      AND period >= {starts:Map(String, DateTime)}[experiment]
),
parts AS (SELECT * FROM rolled UNION ALL SELECT * FROM live)
