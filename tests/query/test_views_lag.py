"""Ingestion lag through the real receiver: the pipeline's own lag apart from late telemetry.

What a user would see if this failed: one span that arrived two days late makes the
receiver look 48 hours behind, and spans dated in the future never show up anywhere.
"""

from __future__ import annotations

import datetime as dt

from exptrace.ingest.log.wal import Signal
from exptrace.query import Queries, Window
from tests.ingest.helpers import wait_for
from tests.query.synth import Request, encode


def test_late_and_future_dated_spans_do_not_count_as_pipeline_lag(make_receiver):
    receiver = make_receiver(self_metrics_interval=0.2)
    now = dt.datetime.now(dt.UTC)
    on_time = [Request("checkout", "/pay", {}, duration_ms=5, ago_seconds=2) for _ in range(4)]
    late = Request("checkout", "/pay", {}, duration_ms=5, ago_seconds=2 * 86_400)
    future = Request("checkout", "/pay", {}, duration_ms=5, ago_seconds=-600)
    receiver.intake.accept(Signal.TRACES, encode([*on_time, late, future]))
    window = Window.parse(now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=5))
    queries = Queries(receiver.store)

    def measured() -> list[dict]:
        # The receiver's own exports (every 0.2 s) and the spans, flushed like any telemetry.
        rows = queries.ingestion_lag(window)
        arrival = [r for r in rows if r["measure"] == "arrival" and r["service"] == "checkout"]
        pipeline = [r for r in rows if r["measure"] == "pipeline"]
        return rows if pipeline and arrival and arrival[0]["items"] == 6 else []

    first = wait_for(measured, timeout=120, interval=0.5)
    [before] = [r for r in first if r["measure"] == "pipeline"]

    def more_exports() -> list[dict]:
        # Measured again once a few more self-metric exports have landed.
        rows = measured()
        pipeline = [r for r in rows if r["measure"] == "pipeline"]
        return rows if pipeline and pipeline[0]["items"] > before["items"] else []

    rows = wait_for(more_exports, timeout=120, interval=0.2)
    [pipeline] = [r for r in rows if r["measure"] == "pipeline"]
    [arrival] = [r for r in rows if r["measure"] == "arrival" and r["service"] == "checkout"]
    assert pipeline["items"] >= 1 and pipeline["max_ms"] < 30_000, pipeline
    assert pipeline["over_target"] == 0
    assert arrival["items"] == 6 and arrival["future_dated"] == 1, arrival
    assert arrival["max_ms"] >= 2 * 86_400_000 - 60_000  # the late span, as arrival only
    assert arrival["p50_ms"] < 60_000
