-- The exemplars of a metric point (every kind but summary).
    arrayMap((ex, o) -> {filtered_attributes},
        dp.exemplars, exemplar_offsets) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> fromUnixTimestamp64Nano(toInt64(x.time_unix_nano)), dp.exemplars) AS `Exemplars.TimeUnix`,
    arrayMap(x -> if(x.value = 'as_int', toFloat64(x.as_int), x.as_double), dp.exemplars) AS `Exemplars.Value`,
    arrayMap(x -> lower(hex(x.span_id)), dp.exemplars) AS `Exemplars.SpanId`,
    arrayMap(x -> lower(hex(x.trace_id)), dp.exemplars) AS `Exemplars.TraceId`
