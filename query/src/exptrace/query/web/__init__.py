"""The HTTP surface: the JSON API (``http_api``, ``act_api``, ``watch_api``, ``gates_api``), the
pages (``pages``, ``page_*``, ``html_parts``, ``charts``), and what stands in front of them
(``gate``, ``auth``, ``ui_scope``)."""

from exptrace.query.web.gate import Hosts
from exptrace.query.web.http_api import api_routes

__all__ = ["Hosts", "api_routes"]
