// Sends traces, logs and metrics to an OTLP/gRPC endpoint with the stock Node.js SDK.
// A W3C baggage header carries the assignment; the stock BaggageSpanProcessor with the
// prefix "exp." copies it onto spans: no exptrace code runs in this service.
// Usage: node export.js HOST:PORT SERVICE_NAME
"use strict";

const { context, propagation, ROOT_CONTEXT, defaultTextMapGetter } = require("@opentelemetry/api");
const { W3CBaggagePropagator } = require("@opentelemetry/core");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { BasicTracerProvider, BatchSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { LoggerProvider, SimpleLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { MeterProvider, PeriodicExportingMetricReader } = require("@opentelemetry/sdk-metrics");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-grpc");
const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-grpc");
const { OTLPMetricExporter } = require("@opentelemetry/exporter-metrics-otlp-grpc");
const { BaggageSpanProcessor } = require("@opentelemetry/baggage-span-processor");

async function main() {
  const [endpoint, service] = process.argv.slice(2);
  const url = `http://${endpoint}`;
  const resource = resourceFromAttributes({ "service.name": service });

  // An incoming request from an exptrace-tagged service upstream.
  const incoming = { baggage: "exp.checkout-v2=B,userId=u-1" };
  const ctx = new W3CBaggagePropagator().extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);

  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      new BaggageSpanProcessor((key) => key.startsWith("exp.")),
      new BatchSpanProcessor(new OTLPTraceExporter({ url })),
    ],
  });
  const tracer = tracerProvider.getTracer("node-client");
  const root = tracer.startSpan("GET /stock", { kind: 1, attributes: { "http.route": "/stock" } }, ctx);
  const child = tracer.startSpan("db.query", {}, propagation.setBaggage(
    require("@opentelemetry/api").trace.setSpan(ctx, root), propagation.getBaggage(ctx)));
  child.end();
  root.end();

  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url }) })],
  });
  const entries = propagation.getBaggage(ctx).getAllEntries();
  const assignment = Object.fromEntries(
    entries.filter(([k]) => k.startsWith("exp.")).map(([k, v]) => [k, v.value]));
  loggerProvider.getLogger("node-client").emit({
    body: "stock checked", severityText: "INFO", severityNumber: 9, attributes: assignment, context: ctx,
  });

  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url }), exportIntervalMillis: 600000,
  });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  meterProvider.getMeter("node-client").createCounter("stock.checks").add(2, assignment);

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
  console.log("exported");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
