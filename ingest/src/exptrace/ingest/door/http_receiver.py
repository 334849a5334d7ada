"""OTLP/HTTP (protobuf and JSON; gzip, deflate, zstd or snappy) plus health and metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from exptrace.ingest.door._bearer import bearer_matches
from exptrace.ingest.door._encodings import decode
from exptrace.ingest.door._otlpjson import JsonConverter, to_protobuf
from exptrace.ingest.door.failures import FailureLimit
from exptrace.ingest.door.intake import Intake
from exptrace.ingest.door.offload import SMALL_BYTES, Offload
from exptrace.ingest.errors import (
    BodyError,
    Busy,
    Refused,
    TooLarge,
    TooManyFailures,
    Unauthenticated,
)
from exptrace.ingest.log import Signal
from exptrace.ingest.stats import IngestStats

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# The HTTP status of a body that cannot be taken, by the refusal's reason (otherwise 400).
BODY_STATUS = {"too_large": 413, "too_many_members": 413, "unsupported_encoding": 415}
PATHS = {"/v1/traces": Signal.TRACES, "/v1/logs": Signal.LOGS, "/v1/metrics": Signal.METRICS}


def bearer_check(token: str | None) -> Callable[[Request], bool]:
    """A predicate: does the request carry ``Authorization: Bearer <token>`` (always true
    without a token)?"""

    def authorized(request: Request) -> bool:
        return not token or bearer_matches(request.headers.get("authorization"), token)

    return authorized


def admit(request: Request, authorized: Callable[[Request], bool], failures: FailureLimit) -> None:
    """Let the request in, or raise :class:`TooManyFailures` (its address failed too often of
    late: the right token waits too) or :class:`Unauthenticated` (counted as a failure)."""
    client = request.client.host if request.client else ""
    failures.check(client)
    if not authorized(request):
        failures.failed(client)
        raise Unauthenticated("missing or wrong bearer token")


def _retry_after(seconds: float) -> str:
    """A ``Retry-After`` no sooner than ``seconds``."""
    return str(max(1, math.ceil(seconds)))


def _status(code: int, message: str, json_body: bool, http_status: int, **headers: str) -> Response:
    # A message may quote the client's text: a lone surrogate there must not make it a 500.
    text = message.encode("utf-8", "backslashreplace").decode()
    status = status_pb2.Status(code=code, message=text)
    if json_body:
        body = json_format.MessageToJson(status).encode()
        return Response(body, http_status, media_type=JSON, headers=headers)
    return Response(status.SerializeToString(), http_status, media_type=PROTOBUF, headers=headers)


def _retry_later(message: str, json_body: bool, seconds: float) -> Response:
    retry_after = str(max(1, round(seconds)))
    return _status(code_pb2.UNAVAILABLE, message, json_body, 503, **{"Retry-After": retry_after})


def _decoded(
    intake: Intake,
    signal: Signal,
    encoding: str,
    body: bytes,
    as_json: bool,
    max_bytes: int,
    convert: JsonConverter = to_protobuf,
) -> tuple[bytes, object]:
    """The request inflated and parsed (CPU-bound: run off the event loop), JSON converted
    by ``convert``."""
    payload = decode(encoding, body, max_bytes)
    if as_json:
        return intake.parse_json(signal, payload, convert)
    return payload, intake.parse(signal, payload)


async def _decode_in_lane(
    offload: Offload,
    intake: Intake,
    signal: Signal,
    encoding: str,
    body: bytes,
    as_json: bool,
    max_bytes: int,
) -> tuple[bytes, object]:
    """The request inflated and parsed in the small lane when it is small on the wire and
    once inflated (it is inflated there up to :data:`SMALL_BYTES`, no further), else in the
    large lane, its JSON converted in a worker process."""
    if len(body) <= SMALL_BYTES:
        small = min(max_bytes, SMALL_BYTES)
        try:
            return await offload.run(
                lambda: _decoded(intake, signal, encoding, body, as_json, small), small=True
            )
        except TooLarge:
            if small == max_bytes:
                raise
    in_process = partial(offload.in_process, to_protobuf)
    return await offload.run(
        lambda: _decoded(intake, signal, encoding, body, as_json, max_bytes, in_process),
        small=False,
    )


def otlp_routes(
    intake: Intake,
    authorized: Callable[[Request], bool],
    failures: FailureLimit,
    offload: Offload,
    max_bytes: int,
) -> list[Route]:
    """The three OTLP/HTTP export routes; bodies are inflated and parsed on ``offload``, so
    no body holds the event loop and small bodies do not wait behind large ones. Wrong tokens
    count in ``failures``: past its bound an address is answered 429, which exporters retry."""
    stats = intake.stats

    async def export(request: Request) -> Response:
        signal = PATHS[request.url.path]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        as_json = content_type == JSON
        try:
            admit(request, authorized, failures)
        except TooManyFailures as limited:
            stats.refused_request(signal, "too_many_failures")
            return _status(
                code_pb2.RESOURCE_EXHAUSTED,
                str(limited),
                as_json,
                429,
                **{"Retry-After": _retry_after(limited.retry_after)},
            )
        except Unauthenticated as error:
            stats.refused_request(signal, "unauthenticated")
            return _status(
                code_pb2.UNAUTHENTICATED, str(error), as_json, 401, **{"WWW-Authenticate": "Bearer"}
            )
        if content_type not in (PROTOBUF, JSON):
            stats.refused_request(signal, "unsupported_media_type")
            return _status(
                code_pb2.INVALID_ARGUMENT,
                f"Content-Type must be {PROTOBUF} or {JSON}",
                as_json,
                415,
            )
        declared = request.headers.get("content-length")
        encoding = request.headers.get("content-encoding", "identity")
        try:
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"request body over {max_bytes} bytes")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(f"request body over {max_bytes} bytes")
            payload, decoded = await _decode_in_lane(
                offload, intake, signal, encoding, bytes(body), as_json, max_bytes
            )
            screened = await run_in_threadpool(intake.accept, signal, payload, decoded)
        except BodyError as error:
            stats.refused_request(signal, error.reason)
            status = BODY_STATUS.get(error.reason, 400)
            code = code_pb2.RESOURCE_EXHAUSTED if status == 413 else code_pb2.INVALID_ARGUMENT
            return _status(code, str(error), as_json, status)
        except ClientDisconnect:  # gone, or cut off by the body deadline (counted there)
            return Response(status_code=400)
        except Busy as busy:
            stats.refused_request(signal, "busy")
            return _retry_later(str(busy), as_json, intake.retry_after)
        except Refused as refused:
            if refused.retryable:
                return _retry_later(str(refused), as_json, refused.retry_after)
            return _status(code_pb2.INVALID_ARGUMENT, str(refused), as_json, 400)
        answer = intake.response(signal, screened)
        if as_json:
            return Response(json_format.MessageToJson(answer).encode(), 200, media_type=JSON)
        return Response(answer.SerializeToString(), 200, media_type=PROTOBUF)

    return [Route(path, export, methods=["POST"]) for path in PATHS]


def health_routes(
    stats: IngestStats,
    ready: Callable[[], list[str]],
    authorized: Callable[[Request], bool],
    failures: FailureLimit,
) -> list[Route]:
    """``/healthz`` (alive), ``/readyz`` (can take and store data) and ``/metrics``."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        problems = ready()  # cheap and never blocking: no thread a probe could use up
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", 503)
        return PlainTextResponse("ready\n")

    async def metrics(request: Request) -> Response:
        try:
            admit(request, authorized, failures)
        except TooManyFailures as limited:
            headers = {"Retry-After": _retry_after(limited.retry_after)}
            return PlainTextResponse(f"{limited}\n", 429, headers=headers)
        except Unauthenticated as error:
            return PlainTextResponse(f"{error}\n", 401, headers={"WWW-Authenticate": "Bearer"})
        return PlainTextResponse(stats.prometheus(), media_type="text/plain; version=0.0.4")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def build_app(routes: Sequence[BaseRoute]) -> Starlette:
    return Starlette(routes=list(routes))
