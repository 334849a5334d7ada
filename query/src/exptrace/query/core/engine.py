"""The engine the computations receive: a read-only handle on the store, the registry, the
analysis settings, and ``run``/``run_page`` of a ``sql/<name>.sql`` with bound parameters.

Every computation (``report``, ``incident``, ``series``, ...) takes an :class:`Engine`; the
:class:`~exptrace.query.core.queries.Queries` facade is built over one and is the only place
that knows every operation."""

from __future__ import annotations

from typing import Any

from exptrace.ingest import ReadOnlyStore, Store
from exptrace.propagation import UNIT_MEMBER
from exptrace.query.core.answers import Page, Rows
from exptrace.query.core.inference import Method
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.sqlfiles import load


class Engine:
    """A store, read only, and how its answers are analysed."""

    def __init__(
        self,
        store: Store,
        registry: Registry | None = None,
        *,
        alpha: float = 0.05,
        method: Method = "always-valid",
        tuning_units: int = 1_000,
        unit_attribute: str = UNIT_MEMBER,
        trace_horizon_seconds: int = 300,
    ) -> None:
        """``method``: ``always-valid`` (look as often as you like) or ``fixed-horizon``
        (one look at a pre-registered end). ``tuning_units``: where the always-valid
        intervals are tightest. ``trace_horizon_seconds``: how far beyond the window a
        trace's spans are read, so a trace is counted whole in the window where it starts."""
        self.reader = store if isinstance(store, ReadOnlyStore) else ReadOnlyStore(store)
        self.registry = registry or Registry(store)
        self.alpha = alpha
        self.method: Method = method
        self.tuning_units = tuning_units
        self.unit_attribute = unit_attribute
        self.trace_horizon_seconds = trace_horizon_seconds

    def request_params(self, registered: list[Experiment] | None = None) -> dict[str, Any]:
        """Values for the shared request definition (``sql/requests_in_window.sql``): each
        registered experiment's unit attribute (from ``registered`` when the caller has
        already read the registry), the default for the others, and the trace horizon."""
        experiments = self.registry.list() if registered is None else registered
        return {
            "unit_attribute": self.unit_attribute,
            "unit_attributes": {e.id: e.unit for e in experiments},
            "trace_horizon_seconds": self.trace_horizon_seconds,
        }

    def run(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run the query ``sql/<name>.sql``; every value travels as a bound parameter."""
        sql = load(name)
        return self.reader.query(sql.text, sql.bind(params)).dicts()

    def run_page(self, name: str, params: dict[str, Any], page: Page) -> Rows:
        """Run a query that answers one page and counts every row in ``total_rows``."""
        rows = self.run(name, {**params, **page.params()})
        if rows:
            total = int(rows[0]["total_rows"])
        elif page.offset:  # past the end: ask only for the count
            counted = self.run(name, {**params, "limit": 1, "offset": 0})
            total = int(counted[0]["total_rows"]) if counted else 0
        else:
            total = 0
        for row in rows:
            del row["total_rows"]
        return Rows(rows, total, page)
