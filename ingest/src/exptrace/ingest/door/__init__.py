"""The door: what an OTLP client talks to.

The gRPC and HTTP receivers, their bearer check and failure limit, body decoding (encodings,
OTLP/JSON) off the event loop, deadlines for slow clients, and the intake that screens an
export and appends it to the log before it is acknowledged. How a refusal is answered (HTTP
status, gRPC code, retry hints) is decided here and nowhere else.
"""

from exptrace.ingest.door.deadlines import deadline_protocol
from exptrace.ingest.door.failures import FailureLimit
from exptrace.ingest.door.grpc_receiver import start_grpc_server
from exptrace.ingest.door.http_receiver import bearer_check, build_app, health_routes, otlp_routes
from exptrace.ingest.door.intake import Intake
from exptrace.ingest.door.offload import Offload
from exptrace.ingest.door.validation import DEFAULT_MAX_NESTED_VALUE_BYTES

__all__ = [
    "DEFAULT_MAX_NESTED_VALUE_BYTES",
    "FailureLimit",
    "Intake",
    "Offload",
    "bearer_check",
    "build_app",
    "deadline_protocol",
    "health_routes",
    "otlp_routes",
    "start_grpc_server",
]
