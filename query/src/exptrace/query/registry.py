"""Moved to ``exptrace.query.core``; this name stays only while ``tests/ingest`` (another
distribution's tests) imports it. New code imports ``exptrace.query`` or ``exptrace.query.core``."""

from exptrace.query.core import Registry

__all__ = ["Registry"]
