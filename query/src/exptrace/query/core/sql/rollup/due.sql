-- Each period of {grain} seconds (an hour, a day) before {sealed}, with its parts rolled at
-- {parts_grain} seconds (minutes, hours) whose latest roll stands (an hour retracted while
-- its minutes are rolled again is not one): how many, and the newest of their rolls.
SELECT toStartOfInterval(Period, toIntervalSecond({grain:UInt32})) AS period,
       max(version) AS newest, countIf(source > 0 OR {parts_grain:UInt32} = 60) AS parts
FROM (
    SELECT Period, max(Version) AS version, argMax(Source, Version) AS source
    FROM exptrace_rollups
    WHERE Grain = {parts_grain:UInt32} AND Period < {sealed:DateTime}
    GROUP BY Period
)
GROUP BY period
