-- The ledger's rows for {periods} with their {sources}, rolled at {grain} seconds as {version}.
SELECT {grain:UInt32} AS Grain, tupleElement(p, 1) AS Period, {version:UInt64} AS Version,
       tupleElement(p, 2) AS Source, now64(3) AS Rolled
FROM (SELECT arrayJoin(arrayZip({periods:Array(DateTime)}, {sources:Array(UInt64)})) AS p)
