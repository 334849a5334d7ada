"""Time series for the web pages: per-variant error rate and p95, and errors per cohort.
The SQL lives in ``sql/*.sql``; every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exptrace.query.core import rollup
from exptrace.query.core.answers import Window
from exptrace.query.core.engine import Engine
from exptrace.query.core.unit_groups import Histogram

STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
"""Bucket widths in seconds, smallest first."""
MAX_BUCKETS = 40


def bucket_seconds(window: Window, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest step that cuts the window into at most ``max_buckets`` buckets."""
    span = (as_datetime(window.end) - as_datetime(window.start)).total_seconds()
    return next((s for s in STEPS if span / s <= max_buckets), STEPS[-1])


class Series:
    """Reads the page series through the query layer's read-only store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.engine.run(name, params)

    def experiment(self, experiment: str, window: Window, bucket: int) -> list[dict[str, Any]]:
        """Rows of (bucket, variant, requests, errors, error_rate, p95_ms): requests as the
        report counts them. Buckets of whole minutes are read from the unit groups (the p95
        within :data:`~exptrace.query.core.unit_groups.RELATIVE_ERROR`; a window that starts
        mid-minute inside what is rolled, from its first whole minute, as the report reads
        it), others from every request fact."""
        params = {
            **window.params(),
            "experiment": experiment,
            "bucket_seconds": bucket,
            **self.engine.request_params(),
        }
        if bucket % 60:
            return self._run("experiment_series", params)
        # a rolled day or hour is read whole only where a bucket holds it whole
        whole = (g for g in (rollup.DAY, rollup.HOUR) if bucket % int(g.total_seconds()) == 0)
        coarsest = next(whole, rollup.MINUTE)
        plan = rollup.plan(self.engine, [experiment], window, coarsest=coarsest)
        rows = self._run("experiment_series_groups", {**params, **plan.params()})
        for row in rows:
            bins, counts = row.pop("bins"), row.pop("counts")
            row["p95_ms"] = Histogram(dict(zip(bins, counts, strict=True))).quantile(0.95)
        return rows

    def incident(
        self, window: Window, bucket: int, service: str = "", route: str = "", top: int = 7
    ) -> list[dict[str, Any]]:
        """Rows of (bucket, experiment, variant, requests, errors) for the ``top`` arms with
        the most failed requests, over the outcomes incident attribution weighs."""
        return self._run(
            "incident_series",
            {
                **window.params(),
                "bucket_seconds": bucket,
                "service": service,
                "route": route,
                "top": top,
                "experiment": "",
                **self.engine.request_params(),
            },
        )


def as_datetime(value: Any) -> dt.datetime:
    """A bucket or window bound as a naive UTC datetime."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return dt.datetime.fromisoformat(str(value))
