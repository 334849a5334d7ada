-- The columns only otel_metrics_exponential_histogram_mv writes.
    dp.count AS Count, ifNull(dp.sum, 0) AS Sum, dp.scale AS Scale, dp.zero_count AS ZeroCount,
    dp.positive.offset AS PositiveOffset, dp.positive.bucket_counts AS PositiveBucketCounts,
    dp.negative.offset AS NegativeOffset, dp.negative.bucket_counts AS NegativeBucketCounts,
    ifNull(dp.min, 0) AS Min, ifNull(dp.max, 0) AS Max,
    m.exponential_histogram.aggregation_temporality AS AggregationTemporality,
    {exemplars}
