"""The ``exptrace`` command: parsing and dispatch (``commands``) and the two clients
(``client``: in-process or over HTTP); the text it prints comes from ``text``."""

from exptrace.query.cli.commands import main

__all__ = ["main"]
