"""The ``exptrace`` command: parsing (``commands``), the two clients (``client``: in-process
or over HTTP) and the text tables (``render*``). Imports ``core``; imports ``web`` and
``service`` only to serve (``exptrace up``)."""

from exptrace.query.cli.commands import main

__all__ = ["main"]
