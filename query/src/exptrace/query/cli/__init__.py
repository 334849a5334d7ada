"""The ``exptrace`` command: parsing and dispatch (``commands``, whose ``main`` is the console
script) and the two clients it asks (``client``: in-process or over HTTP); the text it
prints comes from ``text``."""

from exptrace.query.cli.client import ApiClient, Client, LocalClient

__all__ = ["ApiClient", "Client", "LocalClient"]
