-- The columns only otel_metrics_gauge_mv writes.
    if(dp.value = 'as_int', toFloat64(dp.as_int), dp.as_double) AS Value,
    {exemplars}
