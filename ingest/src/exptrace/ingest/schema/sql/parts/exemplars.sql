-- The exemplars of a metric point (every kind but summary).
    Exemplars Nested (FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9), Value Float64,
        SpanId String, TraceId String) CODEC(ZSTD(1)),
