-- Two different delays, kept apart (the README's seed metric M2 is the first one).
-- pipeline: the receiver's own lag from acknowledging an export to the rows being
--   queryable (the age of the oldest unflushed log segment at each flush, from the
--   receiver's self-metric `exptrace.ingest.lag`), target under 30 s.
-- arrival: how late telemetry reaches the store after it happened (span end or log time to
--   IngestTime), for what was stored in the window, per signal and service. Telemetry dated
--   after it was stored (clock skew, bad timestamps) is counted as future_dated and kept out
--   of the quantiles, where it would read as negative lateness. Rows whose ingest time is
--   unknown (IngestTime 0: written by a Collector before exptrace adopted its tables) are
--   left out of arrival altogether, whatever the window.
SELECT * FROM (
SELECT 'pipeline' AS measure, '' AS signal, ServiceName AS service, count() AS items,
       quantileExact(0.5)(Value * 1000) AS p50_ms, quantileExact(0.99)(Value * 1000) AS p99_ms,
       max(Value * 1000) AS max_ms, toUInt64(0) AS future_dated,
       countIf(Value * 1000 > {target_ms:UInt32}) AS over_target
FROM otel_metrics_gauge
WHERE MetricName = 'exptrace.ingest.lag'
  AND TimeUnix >= {start:DateTime64(9)} AND TimeUnix < {end:DateTime64(9)}
GROUP BY service
UNION ALL
SELECT 'arrival', signal, service, count(), quantileExactIf(0.5)(late_ms, late_ms >= 0),
       quantileExactIf(0.99)(late_ms, late_ms >= 0), maxIf(late_ms, late_ms >= 0),
       countIf(late_ms < 0), toUInt64(0)
FROM (
    SELECT 'traces' AS signal, ServiceName AS service,
           dateDiff('millisecond', Timestamp + toIntervalNanosecond(Duration), IngestTime) AS late_ms
    FROM otel_traces
    WHERE IngestTime >= {start:DateTime64(9)} AND IngestTime < {end:DateTime64(9)}
      AND IngestTime > 0
    UNION ALL
    SELECT 'logs', ServiceName, dateDiff('millisecond', Timestamp, IngestTime)
    FROM otel_logs
    WHERE IngestTime >= {start:DateTime64(9)} AND IngestTime < {end:DateTime64(9)}
      AND IngestTime > 0
)
GROUP BY signal, service
)
ORDER BY measure DESC, signal DESC, service
