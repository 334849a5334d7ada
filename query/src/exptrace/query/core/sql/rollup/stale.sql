-- The first minute in [{start}, {end}) whose request facts (as rollup/counts.sql counts them:
-- untagged roots too) outnumber what its latest roll counted (late data the roller has not
-- rolled yet; a minute never rolled counts 0): a read computes from the request facts from
-- before it on, until the roller has rolled it again. Before {rolled_from}, the roller's
-- first minute, nothing was rolled: only tagged facts there are late data (untagged roots
-- there are traffic outside any experiment).
SELECT min(f.minute) AS first_stale, count() AS stale
FROM (
    SELECT toStartOfMinute(Start) AS minute, count() AS facts
    FROM exptrace_requests
    -- on the minute, as the table's minute_counts projection keeps them: read from there
    WHERE minute >= {start:DateTime} AND minute < {end:DateTime}
      AND (minute >= {rolled_from:DateTime} OR Experiment != '')
    GROUP BY minute
) AS f
LEFT JOIN (
    SELECT Period AS minute, argMax(Source, Version) AS source
    FROM exptrace_rollups
    WHERE Grain = 60 AND Period >= {start:DateTime} AND Period < {end:DateTime}
    GROUP BY minute
) AS l ON f.minute = l.minute
WHERE f.facts > l.source
