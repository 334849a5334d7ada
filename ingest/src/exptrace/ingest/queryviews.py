"""The query layer's SQL, as parameterized views anyone can run in ClickHouse.

Each view takes ``start`` and ``end`` (DateTime64). The unit of the cohort views is the
request: in each trace, the first entry span (server or consumer) that carries the experiment
stands for the request; its outcome and duration are the request's. A request crosses many
services, and counting each service's span would count one request several times and make
correlated spans look like independent evidence. ``by_service = 1`` asks instead for every
service's own entry spans. Run them as, for example::

    SELECT * FROM exptrace_cohort_slis(start = '2026-11-26 14:00:00', end = '2026-11-26 15:00:00',
                                       experiment = 'checkout-v2', by_service = 0, by_route = 0)

    SELECT * FROM exptrace_experiment_report(start = ..., end = ..., experiment = 'checkout-v2',
                                             control = 'control', treatments = ['B'], alpha = 0.05)

The Python API, the CLI and the HTTP API read these same views with bound parameters.
"""

from __future__ import annotations

WINDOW = "Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}"
ENTRY = "SpanKind IN ('Server', 'Consumer')"
IS_ERROR = "(StatusCode = 'Error' OR HttpStatusCode >= 500)"


def requests_cte(
    per_span: str = "0", where: str = "", experiment: str | None = None, detail: bool = True
) -> str:
    """One row per (request, experiment): the first tagged entry span of each trace.

    With ``experiment`` (a parameter placeholder) only that experiment is read, straight from
    the map; otherwise every experiment of every span is considered. ``detail`` keeps the
    request's service and route (strings make the per-request aggregation several times
    dearer, so views that do not group by them leave them out).
    """
    route = "if(HttpRoute != '', HttpRoute, SpanName)"
    fields = f"span_variant, {IS_ERROR}, Duration" + (f", ServiceName, {route}" if detail else "")
    extra = (
        "tupleElement(first_span, 4) AS service,\n        tupleElement(first_span, 5) AS route,"
        if detail
        else ""
    )
    if experiment is None:
        source = (
            "ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS span_variant"
        )
        selected = "experiment, span_variant"
        condition = ""
    else:
        source = ""
        selected = f"{experiment} AS experiment, Experiments[{experiment}] AS span_variant"
        condition = f"AND Experiments[{experiment}] != ''"
    return f"""requests AS (
    SELECT
        experiment,
        argMin(({fields}), Timestamp) AS first_span,
        tupleElement(first_span, 1) AS variant,
        tupleElement(first_span, 2) AS failed,
        tupleElement(first_span, 3) AS duration,
        {extra}
        min(Timestamp) AS at
    FROM (
        SELECT Timestamp, TraceId, SpanId, ServiceName, HttpRoute, SpanName, StatusCode,
               HttpStatusCode, Duration, {selected}
        FROM otel_traces {source}
        WHERE {WINDOW} AND {ENTRY} {condition} {where}
    )
    GROUP BY if({per_span}, cityHash64(SpanId), cityHash64(TraceId)) AS request, experiment
)"""


COHORT_SLIS = f"""
WITH {requests_cte("{by_service:UInt8}", "AND ({experiment:String} = '' OR experiment = {experiment:String})")}
SELECT
    experiment, variant,
    if({{by_service:UInt8}}, service, '') AS service,
    if({{by_route:UInt8}}, route, '') AS route,
    count() AS requests,
    countIf(failed) AS errors,
    errors / requests AS error_rate,
    1 - error_rate AS availability,
    quantilesTDigest(0.5, 0.9, 0.95, 0.99)(duration / 1e6) AS latency_ms
FROM requests
GROUP BY experiment, variant, service, route
ORDER BY experiment, variant, service, route"""

_ONE_EXPERIMENT = "{experiment:String}"

VARIANTS = f"""
SELECT groupUniqArray(Experiments[{{experiment:String}}]) AS variants
FROM otel_traces
WHERE {WINDOW} AND {ENTRY} AND Experiments[{{experiment:String}}] != ''"""

EXPERIMENT_REPORT = f"""
WITH {requests_cte(experiment=_ONE_EXPERIMENT, detail=False)}
SELECT
    treatment,
    countIf(variant = treatment) AS requests,
    countIf(variant = treatment AND failed) AS errors,
    countIf(variant = {{control:String}}) AS control_requests,
    countIf(variant = {{control:String}} AND failed) AS control_errors,
    quantilesTDigestIf(0.5, 0.9, 0.95, 0.99)(duration / 1e6, variant = treatment) AS latency_ms,
    quantilesTDigestIf(0.5, 0.9, 0.95, 0.99)(duration / 1e6, variant = {{control:String}}) AS control_latency_ms,
    quantileExactIf(0.5)(duration, variant = treatment) / 1e6 AS median_ms,
    quantileExactIf(0.5)(duration, variant = {{control:String}}) / 1e6 AS control_median_ms,
    mannWhitneyUTest('two-sided')(duration, variant = treatment) AS rank_test,
    proportionsZTest(errors, control_errors, requests, control_requests,
                     1 - {{alpha:Float64}}, 'unpooled') AS error_test
FROM requests
ARRAY JOIN if(variant = {{control:String}}, {{treatments:Array(String)}}, [variant]) AS treatment
WHERE has({{treatments:Array(String)}}, treatment)
GROUP BY treatment
ORDER BY treatment"""

TAGGING_COVERAGE = f"""
SELECT
    ServiceName AS service,
    if(HttpRoute != '', HttpRoute, SpanName) AS route,
    toStartOfInterval(Timestamp, toIntervalSecond({{bucket_seconds:UInt32}})) AS bucket,
    count() AS requests,
    countIf(length(Experiments) > 0) AS tagged,
    tagged / requests AS coverage
FROM otel_traces
WHERE {WINDOW} AND {ENTRY}
GROUP BY service, route, bucket
ORDER BY service, route, bucket"""

PROPAGATION_COVERAGE = f"""
WITH tagged AS (
    SELECT TraceId, ServiceName AS entry_service, Experiments AS entry_experiments
    FROM otel_traces
    WHERE {WINDOW} AND ParentSpanId = '' AND {ENTRY} AND length(Experiments) > 0
),
spans AS (
    SELECT s.TraceId AS TraceId, s.SpanId AS SpanId, s.ParentSpanId AS ParentSpanId,
           s.ServiceName AS service,
           hasAll(mapKeys(s.Experiments), mapKeys(t.entry_experiments)) AS carries
    FROM otel_traces AS s INNER JOIN tagged AS t ON s.TraceId = t.TraceId
    WHERE s.Timestamp >= {{start:DateTime64(9)}} AND s.Timestamp < {{end:DateTime64(9)}} + INTERVAL 1 HOUR
)
SELECT
    'span' AS signal,
    ifNull(p.service, '') AS from_service,
    c.service AS service,
    count() AS items,
    countIf(c.carries) AS carrying,
    carrying / items AS coverage
FROM spans AS c LEFT JOIN spans AS p ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
WHERE c.ParentSpanId = '' OR p.service != c.service
GROUP BY from_service, service
UNION ALL
SELECT
    'log' AS signal, '' AS from_service, l.ServiceName AS service,
    count() AS items,
    countIf(hasAll(mapKeys(l.Experiments), mapKeys(t.entry_experiments))) AS carrying,
    carrying / items AS coverage
FROM otel_logs AS l INNER JOIN tagged AS t ON l.TraceId = t.TraceId
WHERE l.Timestamp >= {{start:DateTime64(9)}} AND l.Timestamp < {{end:DateTime64(9)}} + INTERVAL 1 HOUR
GROUP BY service
ORDER BY signal DESC, coverage, service"""

_ATTRIBUTED = "count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked"
ATTRIBUTION = f"""
SELECT signal, items, tagged, linked, if(tagged = 0, 0, linked / tagged) AS completeness
FROM (
    SELECT 'traces' AS signal, {_ATTRIBUTED} FROM otel_traces WHERE {WINDOW}
    UNION ALL
    SELECT 'logs', {_ATTRIBUTED} FROM otel_logs WHERE {WINDOW}
    UNION ALL
    SELECT 'metrics', sum(items), sum(tagged), sum(linked) FROM (
        SELECT {_ATTRIBUTED} FROM otel_metrics_gauge WHERE TimeUnix >= {{start:DateTime64(9)}} AND TimeUnix < {{end:DateTime64(9)}}
        UNION ALL SELECT {_ATTRIBUTED} FROM otel_metrics_sum WHERE TimeUnix >= {{start:DateTime64(9)}} AND TimeUnix < {{end:DateTime64(9)}}
        UNION ALL SELECT {_ATTRIBUTED} FROM otel_metrics_histogram WHERE TimeUnix >= {{start:DateTime64(9)}} AND TimeUnix < {{end:DateTime64(9)}}
        UNION ALL SELECT {_ATTRIBUTED} FROM otel_metrics_exponential_histogram WHERE TimeUnix >= {{start:DateTime64(9)}} AND TimeUnix < {{end:DateTime64(9)}}
        UNION ALL SELECT {_ATTRIBUTED} FROM otel_metrics_summary WHERE TimeUnix >= {{start:DateTime64(9)}} AND TimeUnix < {{end:DateTime64(9)}}
    )
)
ORDER BY signal DESC"""

_SCOPE = (
    "AND ({service:String} = '' OR ServiceName = {service:String}) "
    "AND ({route:String} = '' OR HttpRoute = {route:String} OR SpanName = {route:String})"
)
INCIDENT = f"""
WITH {requests_cte("{service:String} != ''", _SCOPE)},
cohorts AS (
    SELECT experiment, variant, count() AS requests, countIf(failed) AS errors,
           quantileTDigest(0.95)(duration / 1e6) AS p95_ms
    FROM requests GROUP BY experiment, variant
),
controls AS (
    SELECT experiment_id AS experiment, argMax(control, version) AS control
    FROM exptrace_experiments GROUP BY experiment_id
),
total AS (
    SELECT countIf({IS_ERROR}) AS all_errors FROM otel_traces
    WHERE {WINDOW} AND {ENTRY} {_SCOPE} AND (ParentSpanId = '' OR {{service:String}} != '')
)
SELECT
    c.experiment AS experiment, c.variant AS variant, c.requests AS requests, c.errors AS errors,
    c.errors / c.requests AS error_rate,
    k.errors / k.requests AS control_error_rate,
    c.errors - c.requests * control_error_rate AS excess_errors,
    c.p95_ms - k.p95_ms AS p95_shift_ms,
    if(total.all_errors = 0, 0, c.errors / total.all_errors) AS error_share,
    c.variant = k.variant AS is_control
FROM cohorts AS c
LEFT JOIN controls AS r ON r.experiment = c.experiment
INNER JOIN cohorts AS k ON k.experiment = c.experiment
    AND k.variant = if(r.control != '', r.control, 'control')
CROSS JOIN total
ORDER BY is_control, excess_errors DESC, p95_shift_ms DESC"""

_BURN_WINDOWS = (("5m", 300), ("30m", 1800), ("1h", 3600), ("6h", 21600), ("3d", 259200))
_BURN_COLUMNS = ",\n    ".join(
    f"countIf(failed AND at >= {{at:DateTime64(9)}} - INTERVAL {seconds} SECOND) / "
    f"greatest(countIf(at >= {{at:DateTime64(9)}} - INTERVAL {seconds} SECOND), 1) AS error_rate_{name},\n    "
    f"countIf(at >= {{at:DateTime64(9)}} - INTERVAL {seconds} SECOND) AS requests_{name}"
    for name, seconds in _BURN_WINDOWS
)
BURN_RATES = f"""
WITH requests AS (
    SELECT experiment, argMin(variant, Timestamp) AS variant,
           argMin({IS_ERROR}, Timestamp) AS failed, min(Timestamp) AS at
    FROM otel_traces
    ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
    WHERE Timestamp >= {{at:DateTime64(9)}} - INTERVAL 3 DAY AND Timestamp < {{at:DateTime64(9)}} AND {ENTRY}
    GROUP BY TraceId, experiment
),
slos AS (
    SELECT experiment_id AS experiment, argMax(slo, version) AS slo
    FROM exptrace_experiments GROUP BY experiment_id
)
SELECT
    experiment, variant,
    if(slos.slo['availability'] > 0, slos.slo['availability'], {{default_availability:Float64}}) AS availability_target,
    {_BURN_COLUMNS}
FROM requests
LEFT JOIN slos ON slos.experiment = requests.experiment
GROUP BY experiment, variant, availability_target
ORDER BY experiment, variant"""

INGESTION_LAG = f"""
SELECT signal, service, count() AS items,
       quantiles(0.5, 0.99)(lag_ms) AS lag_ms_p50_p99, max(lag_ms) AS lag_ms_max
FROM (
    SELECT 'traces' AS signal, ServiceName AS service,
           dateDiff('millisecond', Timestamp + toIntervalNanosecond(Duration), IngestTime) AS lag_ms
    FROM otel_traces WHERE {WINDOW}
    UNION ALL
    SELECT 'logs', ServiceName, dateDiff('millisecond', Timestamp, IngestTime)
    FROM otel_logs WHERE {WINDOW}
)
GROUP BY signal, service
ORDER BY signal DESC, service"""

CARDINALITY = f"""
SELECT
    ServiceName AS service,
    uniqExact(experiment) AS experiments,
    uniqExact((experiment, variant)) AS cohorts,
    uniqExact(variant) AS variants,
    (SELECT uniqExact(key) FROM otel_traces ARRAY JOIN mapKeys(SpanAttributes) AS key WHERE {WINDOW}) AS attribute_keys
FROM otel_traces
ARRAY JOIN mapKeys(Experiments) AS experiment, mapValues(Experiments) AS variant
WHERE {WINDOW}
GROUP BY service
ORDER BY cohorts DESC"""

QUERY_VIEWS: tuple[tuple[str, str], ...] = (
    ("exptrace_cohort_slis", COHORT_SLIS),
    ("exptrace_variants", VARIANTS),
    ("exptrace_experiment_report", EXPERIMENT_REPORT),
    ("exptrace_tagging_coverage", TAGGING_COVERAGE),
    ("exptrace_propagation_coverage", PROPAGATION_COVERAGE),
    ("exptrace_attribution", ATTRIBUTION),
    ("exptrace_incident", INCIDENT),
    ("exptrace_burn_rates", BURN_RATES),
    ("exptrace_ingestion_lag", INGESTION_LAG),
    ("exptrace_cardinality", CARDINALITY),
)
