"""The ``exptrace`` command: parsing and dispatch (``commands``) and the two clients
(``client``: in-process or over HTTP). Text comes from ``text``; only ``commands`` reaches
``web``, ``service`` and ``demo``, to start what a command names."""

from exptrace.query.cli.commands import main

__all__ = ["main"]
