-- The columns only otel_metrics_gauge has, in the exporter's order (see ../otel_metrics.sql).
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    {exemplars}
