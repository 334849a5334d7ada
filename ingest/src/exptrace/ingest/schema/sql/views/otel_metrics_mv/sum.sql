-- The columns only otel_metrics_sum_mv writes.
    if(dp.value = 'as_int', toFloat64(dp.as_int), dp.as_double) AS Value,
    m.sum.aggregation_temporality AS AggregationTemporality,
    m.sum.is_monotonic AS IsMonotonic,
    {exemplars}
