"""``exptrace demo``: a small stack of instrumented services, traffic with a bad variant, and
the watcher acting on it (``run``, ``act``)."""

from exptrace.query.demo.run import Telemetry, instrument, run_demo, telemetry

__all__ = ["Telemetry", "instrument", "run_demo", "telemetry"]
