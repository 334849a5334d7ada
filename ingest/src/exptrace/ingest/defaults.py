"""Facts the receiver's layers share, each written once here and imported where it is used.

A leaf, like :mod:`exptrace.ingest.errors`: every layer may import it, it imports nothing.
"""

OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
"""The ports OTLP names for gRPC and HTTP."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Host names that reach this machine only: listening there needs no token."""
WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 (names, not a bind)
"""Host names that mean every interface."""
GRPC_ENDPOINT = f"{LOOPBACK_HOSTS[0]}:{OTLP_GRPC_PORT}"
HTTP_ENDPOINT = f"{LOOPBACK_HOSTS[0]}:{OTLP_HTTP_PORT}"
"""Where the receiver listens unless told otherwise: this machine only."""
DATA_DIR = "exptrace-data"
"""The log, the embedded store and the dead letters, relative to the working directory."""
RETENTION_DAYS = 30
"""Days rows are kept (0: forever); items older than that are refused at the door."""
