"""Real OpenTelemetry SDK providers wired to in-memory exporters, for assertions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exptrace.propagation import ExperimentLogRecordProcessor, ExperimentSpanProcessor


@dataclass
class Telemetry:
    """One process's worth of SDK providers, with exptrace's processors installed."""

    tracer_provider: TracerProvider = field(default_factory=TracerProvider)
    logger_provider: LoggerProvider = field(default_factory=LoggerProvider)
    span_exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    log_exporter: InMemoryLogRecordExporter = field(default_factory=InMemoryLogRecordExporter)
    metric_reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider.add_span_processor(ExperimentSpanProcessor())
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.logger_provider.add_log_record_processor(ExperimentLogRecordProcessor())
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.tracer = self.tracer_provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        matches = [s for s in self.spans() if s.name == name]
        assert matches, f"no span {name!r} among {[s.name for s in self.spans()]}"
        return matches[-1]

    def log_attributes(self) -> list[dict]:
        return [dict(r.log_record.attributes or {}) for r in self.log_exporter.get_finished_logs()]

    def metric_points(self, name: str) -> list[tuple[dict, object]]:
        """(attributes, point) for every data point of metric ``name`` collected so far."""
        data = self.metric_reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes), p) for p in metric.data.data_points]
        return found

    def logging_handler(self) -> LoggingHandler:
        return LoggingHandler(level=logging.DEBUG, logger_provider=self.logger_provider)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()
