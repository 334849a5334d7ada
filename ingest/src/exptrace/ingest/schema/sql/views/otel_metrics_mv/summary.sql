-- The columns only otel_metrics_summary_mv writes.
    dp.count AS Count, dp.sum AS Sum,
    arrayMap(q -> q.quantile, dp.quantile_values) AS `ValueAtQuantiles.Quantile`,
    arrayMap(q -> q.value, dp.quantile_values) AS `ValueAtQuantiles.Value`
