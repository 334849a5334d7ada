"""Moved to ``exptrace.query.web``; this name stays only while ``tests/ingest`` (another
distribution's tests) imports it. New code imports ``exptrace.query`` or ``exptrace.query.web``."""

from exptrace.query.web import api_routes

__all__ = ["api_routes"]
