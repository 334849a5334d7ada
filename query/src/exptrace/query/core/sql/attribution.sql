-- Per signal: items, items carrying an assignment, and those linked to a registered artifact.
-- completeness is NULL (undefined, shown as '-') when nothing of the signal was tagged.
SELECT signal, items, tagged, linked, if(tagged = 0, NULL, linked / tagged) AS completeness
FROM (
    SELECT 'traces' AS signal, count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_traces WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
    UNION ALL
    SELECT 'logs', count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_logs WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
    UNION ALL
    SELECT 'metrics', sum(items), sum(tagged), sum(linked) FROM (
        SELECT count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_metrics_gauge WHERE TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
        UNION ALL SELECT count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_metrics_sum WHERE TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
        UNION ALL SELECT count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_metrics_histogram WHERE TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
        UNION ALL SELECT count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_metrics_exponential_histogram WHERE TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
        UNION ALL SELECT count() AS items, countIf(length(Experiments) > 0) AS tagged, countIf(length(Artifacts) > 0) AS linked FROM otel_metrics_summary WHERE TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
    )
)
ORDER BY signal DESC
