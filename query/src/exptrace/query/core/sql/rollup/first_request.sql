-- When the earliest request fact of any experiment starts, and how many there are.
SELECT min(Start) AS first, count() AS facts
FROM exptrace_requests
WHERE Experiment != ''
