-- with: incident_scope
-- The outcomes incident attribution weighs, with their trace's experiment, variant and unit.
-- Without a scope: the requests as the report counts them (each trace's root). With
-- {service} (and {route}): the outcomes in `scoped`, each taking the experiments of its
-- trace. Contaminated traces are left out.
-- `identified`: the request's trace carries a unit id (else `unit` is the trace itself).
outcomes AS (
    SELECT experiment, variant, unit, identified, at, failed, duration_ms
    FROM requests
    WHERE NOT mixed AND {service:String} = '' AND {route:String} = ''
    UNION ALL
    SELECT r.experiment AS experiment, r.variant AS variant, r.unit AS unit,
           r.identified AS identified, s.at AS at, s.failed AS failed, s.duration_ms AS duration_ms
    FROM (SELECT * FROM scoped WHERE {service:String} != '' OR {route:String} != '') AS s
    INNER JOIN (SELECT experiment, trace, variant, unit, identified FROM requests WHERE NOT mixed)
        AS r ON s.trace = r.trace
)
