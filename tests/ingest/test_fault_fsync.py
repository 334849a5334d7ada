"""``fsync`` of the write-ahead log fails for a while, then works again (issue 14, row 4),
on the real ``exptrace up`` process under load.

Before: the first failure stuck (every export refused until a restart) while ``/readyz``
said 200, and an export refused after its bytes were appended was stored, and stored again
after its client's retry. Now the records appended since the last good sync are cut before
their exports are refused, ``/readyz`` says why it cannot take data, and intake resumes by
itself once a sync works: every acknowledged span is stored exactly once.

The fault is real to the process: an ``LD_PRELOAD`` shim (``failing_fsync.c``, built with
the machine's C compiler) makes the C library's ``fsync`` of log segments fail with EIO or
ENOSPC while a flag file exists.
"""

import errno
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from tests.ingest.crashload import TRACE_METHOD, Load, Receiver, stored_span_counts
from tests.ingest.door import span, traces
from tests.ingest.helpers import wait_for

SHIM = Path(__file__).with_name("failing_fsync.c")


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the failing-fsync shim")
    library = tmp_path_factory.mktemp("shim") / "failing_fsync.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM), "-ldl"], check=True
    )
    return library


def post(receiver: Receiver, payload: bytes):
    """One OTLP/HTTP export; the response (an error status too)."""
    request = urllib.request.Request(
        receiver.url("/v1/traces"),
        data=payload,
        headers={"Content-Type": "application/x-protobuf"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response
    except urllib.error.HTTPError as error:
        return error


def readyz(receiver: Receiver) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(receiver.url("/readyz"), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC], ids=["EIO", "ENOSPC"])
def test_a_failing_fsync_refuses_then_clears_and_stores_each_export_once(tmp_path, shim, code):
    flag = tmp_path / "fsync-fails"
    export_span = span("op")
    export = traces("http-retry", [export_span]).SerializeToString()
    receiver = Receiver(
        tmp_path / "data",
        LD_PRELOAD=str(shim),
        FAILING_FSYNC_FLAG=str(flag),
        FAILING_FSYNC_ERRNO=str(code),
    )
    receiver.start()
    receiver.wait_ready()
    load = Load(receiver.grpc_port, senders=3)
    load.start()
    try:
        wait_for(lambda: len(load.acknowledged) > 100, timeout=120)
        flag.touch()  # the disk fails
        refused = 'exptrace_ingest_requests_refused_total{signal="traces",reason="log_error"}'
        wait_for(lambda: receiver.metric(refused) >= 3, timeout=120)
        status, text = readyz(receiver)
        assert status == 503
        assert "the write-ahead log cannot take data: fsync failed" in text
        refused_http = post(receiver, export)
        assert refused_http.status == 503 and refused_http.headers["Retry-After"]
        with (
            grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel,
            pytest.raises(grpc.RpcError) as refused_grpc,
        ):
            channel.unary_unary(TRACE_METHOD)(export, timeout=30)
        assert refused_grpc.value.code() == grpc.StatusCode.UNAVAILABLE
        during = len(load.acknowledged)
        flag.unlink()  # ... and recovers: no restart
        wait_for(lambda: readyz(receiver)[0] == 200, timeout=120)
        assert post(receiver, export).status == 200  # the client's retry, stored once
        wait_for(lambda: len(load.acknowledged) > during + 100, timeout=120)
    finally:
        flag.unlink(missing_ok=True)
        load.stop()
    assert receiver.stop() == 0
    counts = stored_span_counts(receiver.data_dir)
    assert [s for s in load.acknowledged if s not in counts] == []
    assert {s: n for s, n in counts.items() if n > 1} == {}
    assert stored_span_counts(receiver.data_dir, "http-retry") == {export_span.span_id.hex(): 1}
