"""OTLP/gRPC: the trace, logs and metrics ``Export`` methods on one grpcio server.

Requests arrive as raw bytes (gzip is undone by gRPC itself); the intake validates and logs
them durably before the response is sent: empty, or a partial success naming what was refused.
"""

from __future__ import annotations

import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from exptrace.ingest.door._bearer import bearer_matches
from exptrace.ingest.door.failures import FailureLimit
from exptrace.ingest.door.intake import Intake
from exptrace.ingest.errors import CannotListen, Refused, TooManyFailures
from exptrace.ingest.log import Signal

SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": Signal.TRACES,
    "opentelemetry.proto.collector.logs.v1.LogsService": Signal.LOGS,
    "opentelemetry.proto.collector.metrics.v1.MetricsService": Signal.METRICS,
}


def _retry_metadata(
    message: str, seconds: float, code: int = code_pb2.UNAVAILABLE
) -> tuple[tuple[str, bytes], ...]:
    """Trailers for a retryable status (UNAVAILABLE, or RESOURCE_EXHAUSTED, which OTLP makes
    retryable only with it) with a RetryInfo, as OTLP describes.

    The rich status (``grpc-status-details-bin``) is what gRPC's status libraries read; the
    OpenTelemetry Python exporter reads the bare ``google.rpc.retryinfo-bin`` trailer.
    """
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, intake: Intake, token: str | None, failures: FailureLimit) -> None:
        self._intake = intake
        self._token = token
        self._failures = failures
        self._methods = {
            f"/{service}/Export": grpc.unary_unary_rpc_method_handler(self._export(signal))
            for service, signal in SERVICES.items()
        }

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._methods.get(handler_call_details.method)

    def _authorized(self, context: grpc.ServicerContext) -> bool:
        if not self._token:
            return True
        for key, value in context.invocation_metadata():
            if key == "authorization":
                return bearer_matches(value, self._token)
        return False

    def _admit(self, signal: Signal, context: grpc.ServicerContext) -> None:
        """Abort unless the call carries the token and its address has not failed too often
        of late (then RESOURCE_EXHAUSTED with a RetryInfo: exporters back off and retry)."""
        client = peer_address(context.peer())
        try:
            self._failures.check(client)
        except TooManyFailures as limited:
            self._intake.stats.refused_request(signal, "too_many_failures")
            code = code_pb2.RESOURCE_EXHAUSTED
            context.set_trailing_metadata(
                _retry_metadata(str(limited), max(1.0, limited.retry_after), code)
            )
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(limited))
        if not self._authorized(context):
            self._failures.failed(client)
            self._intake.stats.refused_request(signal, "unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    def _export(self, signal: Signal):
        intake = self._intake

        def export(payload: bytes, context: grpc.ServicerContext) -> bytes:
            started = time.thread_time()
            try:
                return handle(payload, context)
            finally:
                intake.stats.cpu("door_grpc", time.thread_time() - started)

        def handle(payload: bytes, context: grpc.ServicerContext) -> bytes:
            self._admit(signal, context)
            try:
                screened = intake.accept(signal, payload)
            except Refused as refused:
                if refused.retryable:
                    context.set_trailing_metadata(
                        _retry_metadata(str(refused), refused.retry_after)
                    )
                    context.abort(grpc.StatusCode.UNAVAILABLE, str(refused))
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(refused))
            return intake.response(signal, screened).SerializeToString()

        return export


def peer_address(peer: str) -> str:
    """The client address of a gRPC peer (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.find("]")]
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return rest


def start_grpc_server(
    intake: Intake,
    endpoint: str,
    *,
    failures: FailureLimit,
    token: str | None = None,
    max_request_bytes: int = 16 << 20,
    tls: tuple[bytes, bytes] | None = None,
    workers: int = 16,
) -> tuple[grpc.Server, int]:
    """Start serving; returns the server and the bound port (``:0`` picks a free one).

    Check the port is free first (:func:`exptrace.ingest.ports.refuse_if_taken`): grpcio
    reports a failed bind with a multi-line log of its own."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exptrace-grpc"),
        handlers=[_Handler(intake, token, failures)],
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 << 20),
            # grpcio sets SO_REUSEPORT by default: a second receiver could then bind the same
            # port and silently take half of the exports into another store.
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=workers * 8,
    )
    try:
        if tls is not None:
            credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
            port = server.add_secure_port(endpoint, credentials)
        else:
            port = server.add_insecure_port(endpoint)
    except RuntimeError:  # grpcio's "Failed to bind"
        port = 0
    if port == 0:
        server.stop(None)
        raise CannotListen(
            f"cannot listen on {endpoint} for OTLP/gRPC (in use by another process, "
            "or not an address of this machine)"
        )
    server.start()
    return server, port
