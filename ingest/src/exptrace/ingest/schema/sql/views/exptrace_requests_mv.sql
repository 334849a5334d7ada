-- Per trace and experiment its spans carry ('' for a root that carries none), per insert
-- block, the partial facts of one request (exptrace_requests); also the migration that fills
-- the table from spans stored before it existed ({placeholders}: see ddl.REQUESTS_SELECT).
SELECT
    any(experiment) AS Experiment,
    any(trace) AS Trace,
    min(Timestamp) AS Start,
    min(order_key) AS FirstKey,
    argMin(failed, order_key) AS Failed,
    argMin(Duration, order_key) AS Duration,
    argMin(ServiceName, order_key) AS Service,
    argMin(route, order_key) AS Route,
    max(root) AS HasRoot,
    min(variant) AS VariantMin,
    max(variant) AS VariantMax,
    {units}
FROM (
    SELECT cityHash64(TraceId) AS trace, Timestamp, Duration, ServiceName,
        ParentSpanId = '' AS root,
        StatusCode = 'Error' OR HttpStatusCode >= 500 AS failed,
        if(HttpRoute != '', HttpRoute, SpanName) AS route,
        {order_key} AS order_key,
        {unit_hashes},
        root AND empty(Experiments) AS untagged_root,
        arrayConcat(if(untagged_root, [''], []), mapKeys(Experiments)) AS experiments,
        arrayConcat(if(untagged_root, [''], []), mapValues(Experiments)) AS variants
    FROM otel_traces
    WHERE TraceId != '' AND (ParentSpanId = '' OR length(Experiments) > 0)
)
ARRAY JOIN experiments AS experiment, variants AS variant
-- one 64-bit key per (trace, experiment): much cheaper to group than the pair
GROUP BY bitXor(trace, cityHash64(experiment))
