"""setup() and the SDK's tracer provider: the README's order stamps spans, the other warns."""

import json
import subprocess
import sys

SDK = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
"""
SETUP = """
import warnings
warnings.simplefilter("always")
from exptrace.propagation import setup
setup()
"""
SPAN = """
import json
from opentelemetry import context
from exptrace.propagation import with_assignments
token = context.attach(with_assignments({"checkout-v2": "B"}))
trace.get_tracer("t").start_span("work").end()
context.detach(token)
print(json.dumps(dict(exporter.get_finished_spans()[0].attributes)))
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )


def test_setup_after_the_sdk_stamps_spans_silently():
    result = run(SDK + SETUP + SPAN)
    assert json.loads(result.stdout) == {"exp.checkout-v2": "B"}
    assert "Warning" not in result.stderr


def test_setup_before_the_sdk_says_spans_will_not_be_stamped():
    """The user sees why spans lack exp.* attributes, and what to change."""
    result = run(SETUP + SDK + SPAN)
    assert json.loads(result.stdout) == {}
    assert "RuntimeWarning" in result.stderr
    assert "call setup() after trace.set_tracer_provider" in result.stderr
