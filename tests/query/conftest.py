"""The query tests' receivers set up the query layer's tables and views, as `exptrace up`
does."""

from __future__ import annotations

import pytest


@pytest.fixture
def query_parts() -> dict:
    from exptrace.query import schema_parts

    return schema_parts()
