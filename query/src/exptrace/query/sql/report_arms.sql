-- with: report_requests
-- One row per variant: sums over randomization units (m requests, e errors per unit) for
-- the delta method, the exact p50/p95/p99 (and p90) latency (ms) and, per unit, the count
-- c of its requests at or below each quantile (sums of c, c^2 and c*m) for their intervals.
levels AS MATERIALIZED (
    SELECT variant, quantilesExactIf(0.5, 0.95, 0.99, 0.9)(duration_ms, NOT mixed) AS q
    FROM requests
    GROUP BY variant
),
units AS (
    SELECT
        r.variant AS variant,
        r.unit AS unit,
        countIf(NOT r.mixed) AS m,
        countIf(NOT r.mixed AND r.failed) AS e,
        countIf(r.mixed) AS x,
        countIf(NOT r.rootless) AS rooted,
        max(r.unit_id != '') AS identified,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[1]) AS c1,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[2]) AS c2,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[3]) AS c3
    FROM requests AS r
    INNER JOIN levels AS l ON r.variant = l.variant
    GROUP BY variant, unit
)
SELECT
    u.variant AS variant,
    countIf(u.m > 0) AS units,
    countIf(u.m > 0 AND u.identified) AS identified_units,
    sum(u.m) AS requests,
    sum(u.e) AS errors,
    sum(u.m * u.m) AS requests_sq,
    sum(u.e * u.e) AS errors_sq,
    sum(u.e * u.m) AS errors_m,
    sum(u.x) AS mixed,
    sum(u.rooted) AS rooted,
    any(l.q) AS quantiles,
    [sum(u.c1), sum(u.c2), sum(u.c3)] AS below,
    [sum(u.c1 * u.c1), sum(u.c2 * u.c2), sum(u.c3 * u.c3)] AS below_sq,
    [sum(u.c1 * u.m), sum(u.c2 * u.m), sum(u.c3 * u.m)] AS below_m
FROM units AS u
INNER JOIN levels AS l ON u.variant = l.variant
GROUP BY variant
ORDER BY variant
