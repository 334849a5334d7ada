-- Each period of {grain} seconds (an hour, a day) before {sealed}, with its parts rolled at
-- {parts_grain} seconds (minutes, hours): how many, and their newest roll.
SELECT toStartOfInterval(Period, toIntervalSecond({grain:UInt32})) AS period,
       max(Version) AS newest, count(DISTINCT Period) AS parts
FROM exptrace_rollups
WHERE Grain = {parts_grain:UInt32} AND Period < {sealed:DateTime}
GROUP BY period
