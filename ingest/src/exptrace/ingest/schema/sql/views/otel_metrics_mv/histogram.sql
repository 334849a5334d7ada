-- The columns only otel_metrics_histogram_mv writes.
    dp.count AS Count, ifNull(dp.sum, 0) AS Sum, dp.bucket_counts AS BucketCounts,
    dp.explicit_bounds AS ExplicitBounds, ifNull(dp.min, 0) AS Min, ifNull(dp.max, 0) AS Max,
    m.histogram.aggregation_temporality AS AggregationTemporality,
    {exemplars}
