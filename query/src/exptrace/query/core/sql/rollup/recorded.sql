-- Each period of {grain} seconds rolled in [{start}, {end}), with the Source its latest roll
-- recorded.
SELECT Period AS period, argMax(Source, Version) AS source
FROM exptrace_rollups
WHERE Grain = {grain:UInt32} AND Period >= {start:DateTime} AND Period < {end:DateTime}
GROUP BY period
