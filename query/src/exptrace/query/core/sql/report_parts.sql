-- with: unit_groups
-- The unit groups of each experiment in {experiments} (all when empty), each from its first
-- minute in {first_minutes} (else {everyone_from}), in `parts`: the rolled periods of
-- exptrace_unit_groups in {days}, {hours} and {minutes} (each period's latest roll; for each
-- experiment, a day's row where the whole day is in its window, else an hour's where the
-- whole hour is, else the minutes: core/rollup.py's ReadPlan), and the requests after them,
-- in [{start}, {end}), grouped the same way from the request facts.
latest AS (
    SELECT Grain, Period, max(Version) AS Version
    FROM exptrace_rollups
    WHERE ((Grain = 86400 AND Period IN {days:Array(DateTime)})
           OR (Grain = 3600 AND Period IN {hours:Array(DateTime)})
           OR (Grain = 60 AND Period IN {minutes:Array(DateTime)}))
      -- a retraction (Source 0, while an hour or day is rolled again) has no rows: the roll
      -- before it stands until the new one is recorded
      AND (Grain = 60 OR Source > 0)
    GROUP BY Grain, Period
),
rolled AS (
    SELECT Experiment AS experiment, Period AS period, Variant AS variant,
           Identified AS identified, UnitGroup AS unit_group, Requests AS requests,
           Errors AS errors, Mixed AS mixed_requests, Rooted AS rooted, Units AS units,
           NewUnits AS new_units, Latency AS latency,
           transform(Experiment, {experiments:Array(String)}, {first_minutes:Array(DateTime)},
                     {everyone_from:DateTime}) AS first_minute
    FROM exptrace_unit_groups
    WHERE (empty({experiments:Array(String)}) OR Experiment IN {experiments:Array(String)})
      AND ((Grain = 86400 AND Period IN {days:Array(DateTime)})
           OR (Grain = 3600 AND Period IN {hours:Array(DateTime)})
           OR (Grain = 60 AND Period IN {minutes:Array(DateTime)}))
      AND Period >= first_minute
      -- not inside a day, or an hour, that this experiment reads whole
      AND (Grain = 86400
           OR NOT (has({days:Array(DateTime)}, toStartOfInterval(Period, toIntervalSecond(86400)) AS day)
                   AND day >= first_minute))
      AND (Grain >= 3600
           OR NOT (has({hours:Array(DateTime)}, toStartOfHour(Period) AS hour)
                   AND hour >= first_minute))
      AND (Grain, Period, Version) GLOBAL IN (SELECT Grain, Period, Version FROM latest)
),
live AS (
    SELECT experiment, period, variant, identified, unit_group, requests, errors,
           mixed_requests, rooted, units, new_units, latency,
           transform(experiment, {experiments:Array(String)}, {first_minutes:Array(DateTime)},
                     {everyone_from:DateTime}) AS first_minute
    FROM minute_groups
    WHERE (empty({experiments:Array(String)}) OR experiment IN {experiments:Array(String)})
),
parts AS (SELECT * FROM rolled UNION ALL SELECT * FROM live)
