"""Answers as text: the tables and lines the ``exptrace`` command prints, shared with
``exptrace demo``."""

from exptrace.query.text import render, render_act, render_watch

__all__ = ["render", "render_act", "render_watch"]
