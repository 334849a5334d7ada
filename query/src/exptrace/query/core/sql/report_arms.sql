-- with: requests_in_window
-- One row per variant: sums over randomization units (m requests, e errors per unit) for
-- the delta method; the exact p50/p95/p99 (and p90) latency (ms); per unit, the count c of
-- its requests at or below each quantile (sums of c, c^2 and c*m); and each quantile's
-- bracket: the latencies at its CDF level -/+ bracket_z standard errors of the CDF (the
-- delta method over units on c / m), read from the arm's order statistics (Deng et al. 2018).
-- Partial unit coverage: once any request of the experiment carries a unit, the requests
-- without one are left out of the arms (`kept`) and counted per variant in
-- `unidentified_requests`; without any unit id every trace is its own unit (the fallback).
analysed AS MATERIALIZED (
    SELECT *, identified OR (SELECT NOT max(identified) FROM requests) AS kept
    FROM requests
),
sorted AS MATERIALIZED (
    SELECT variant, arraySort(groupArrayIf(duration_ms, kept AND NOT mixed)) AS s, length(s) AS n
    FROM analysed
    GROUP BY variant
),
levels AS MATERIALIZED (
    -- quantileExact's rule: the value at 0-based position floor(level * n)
    SELECT variant, n, s,
           arrayMap(p -> if(n = 0, nan, s[least(n, toUInt64(floor(p * n)) + 1)]),
                    [0.5, 0.95, 0.99, 0.9]) AS q
    FROM sorted
),
units AS (
    SELECT
        r.variant AS variant,
        r.unit AS unit,
        countIf(NOT r.mixed) AS m,
        countIf(NOT r.mixed AND r.failed) AS e,
        countIf(r.mixed) AS x,
        countIf(NOT r.rootless) AS rooted,
        max(r.identified) AS identified,
        max(r.kept) AS kept,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[1]) AS c1,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[2]) AS c2,
        countIf(NOT r.mixed AND r.duration_ms <= l.q[3]) AS c3
    FROM analysed AS r
    INNER JOIN levels AS l ON r.variant = l.variant
    GROUP BY variant, unit
),
sums AS (
    SELECT
        variant,
        countIf(m > 0 AND kept) AS units,
        countIf(m > 0 AND identified) AS identified_units,
        sumIf(m, kept) AS requests,
        sumIf(m, NOT kept) AS unidentified_requests,
        sumIf(e, kept) AS errors,
        sumIf(m * m, kept) AS requests_sq,
        sumIf(e * e, kept) AS errors_sq,
        sumIf(e * m, kept) AS errors_m,
        sum(x) AS mixed,
        sum(rooted) AS rooted,
        [sumIf(c1, kept), sumIf(c2, kept), sumIf(c3, kept)] AS below,
        [sumIf(c1 * c1, kept), sumIf(c2 * c2, kept), sumIf(c3 * c3, kept)] AS below_sq,
        [sumIf(c1 * m, kept), sumIf(c2 * m, kept), sumIf(c3 * m, kept)] AS below_m
    FROM units
    GROUP BY variant
)
SELECT
    u.variant AS variant, u.units AS units, u.identified_units AS identified_units,
    u.requests AS requests, u.unidentified_requests AS unidentified_requests, u.errors AS errors, u.requests_sq AS requests_sq,
    u.errors_sq AS errors_sq, u.errors_m AS errors_m, u.mixed AS mixed, u.rooted AS rooted,
    l.q AS quantiles, u.below AS below, u.below_sq AS below_sq, u.below_m AS below_m,
    arrayMap(k -> [0.5, 0.95, 0.99][k] - {bracket_z:Float64} * cdf_sd[k], [1, 2, 3]) AS low_levels,
    arrayMap(k -> [0.5, 0.95, 0.99][k] + {bracket_z:Float64} * cdf_sd[k], [1, 2, 3]) AS high_levels,
    arrayMap(k -> sqrt(greatest(u.below_sq[k] - 2 * share[k] * u.below_m[k]
                                + share[k] * share[k] * u.requests_sq, 0)
                       * u.units / greatest(u.units - 1, 1)) / greatest(u.requests, 1),
             [1, 2, 3]) AS cdf_sd,
    arrayMap(k -> u.below[k] / greatest(u.requests, 1), [1, 2, 3]) AS share,
    -- report_brackets' rule: the value at 1-based position ceil(level * n), clamped
    arrayMap(level -> if(l.n = 0, nan,
                         l.s[greatest(1, least(l.n, toUInt64(ceil(greatest(level, 0) * l.n))))]),
             arrayConcat(low_levels, high_levels)) AS brackets
FROM sums AS u
INNER JOIN levels AS l ON u.variant = l.variant
ORDER BY variant
