"""Answers as text: the tables and lines the ``exptrace`` command prints, shared with
``exptrace demo``. Imports ``core`` only; knows nothing of how it is reached."""

from exptrace.query.text import render, render_act, render_watch

__all__ = ["render", "render_act", "render_watch"]
