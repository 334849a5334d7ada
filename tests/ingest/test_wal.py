"""The write-ahead log on a real disk: durability, torn tails, corruption, bounds, ownership."""

import errno
import os
import threading
import zlib

import pytest

from exptrace.ingest.errors import WalBusy, WalFull, WalPending
from exptrace.ingest.log import wal as wal_module
from exptrace.ingest.log.dedup import RecentExports
from exptrace.ingest.log.wal import HEADER, Signal, WriteAheadLog
from exptrace.ingest.stats import IngestStats
from tests.ingest.helpers import wait_for


def test_records_survive_reopen_in_order(tmp_path):
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    payloads = [os.urandom(100 + i) for i in range(30)]
    for i, p in enumerate(payloads):
        wal.append_durable(Signal(i % 3 + 1), p)
    wal.close()
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    got = [r.payload for seq in wal.sealed() for r in wal.read(seq)]
    assert got == payloads
    assert wal.segments > 3  # rolled over by size
    wal.close()


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size + 3])
def test_torn_tail_is_cut_and_never_half_read(tmp_path, cut):
    wal = WriteAheadLog(tmp_path)
    wal.append_durable(Signal.TRACES, b"complete-1")
    wal.append_durable(Signal.TRACES, b"complete-2")
    wal.close()
    [segment] = list(tmp_path.glob("seg-*.wal"))
    with open(segment, "ab") as f:  # a crash in the middle of the next append
        f.write((HEADER.pack(b"EXW1", 1, 50, 0) + b"x" * 50)[:cut])
    wal = WriteAheadLog(tmp_path)
    assert [r.payload for seq in wal.sealed() for r in wal.read(seq)] == [
        b"complete-1",
        b"complete-2",
    ]
    [damage] = wal.damage
    assert damage.torn_tail and len(damage.data) == cut
    assert "never acknowledged" in damage.describe()
    wal.close()


def test_corrupt_last_record_is_reported_as_damage_not_as_a_torn_write(tmp_path):
    wal = WriteAheadLog(tmp_path)
    for i in range(3):
        wal.append_durable(Signal.LOGS, f"record-{i}".encode())
    wal.close()
    [segment] = list(tmp_path.glob("seg-*.wal"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the last payload: its CRC no longer matches
    segment.write_bytes(bytes(data))
    seen = []
    wal = WriteAheadLog(tmp_path, on_damage=seen.append)
    assert [r.payload for seq in wal.sealed() for r in wal.read(seq)] == [b"record-0", b"record-1"]
    [damage] = seen
    assert not damage.torn_tail and damage.data == bytes(data[-(HEADER.size + 8) :])
    assert "damaged" in damage.describe()
    wal.close()


@pytest.mark.parametrize("where", ["payload", "length", "magic"])
def test_damage_mid_segment_keeps_every_intact_record_after_it(tmp_path, where):
    """A flipped byte in record 50 of 100 costs that record only; the reader says so."""
    wal = WriteAheadLog(tmp_path)
    for i in range(100):
        wal.append_durable(Signal.TRACES, f"record-{i:03d}".encode() * 3)
    wal.close()
    [segment] = list(tmp_path.glob("seg-*.wal"))
    data = bytearray(segment.read_bytes())
    size = HEADER.size + len(b"record-000") * 3
    start = 50 * size
    data[start + {"payload": HEADER.size + 2, "length": 8, "magic": 0}[where]] ^= 0x5A
    segment.write_bytes(bytes(data))
    seen = []
    wal = WriteAheadLog(tmp_path, on_damage=seen.append)
    payloads = [r.payload for seq in wal.sealed() for r in wal.read(seq)]
    assert payloads == [f"record-{i:03d}".encode() * 3 for i in range(100) if i != 50]
    [damage] = seen
    assert (damage.offset, len(damage.data), damage.torn_tail) == (start, size, False)
    assert segment.stat().st_size == len(data)  # nothing after the damage was cut
    wal.close()


def test_segment_numbers_are_never_reused_in_a_directory(tmp_path):
    """An emptied log does not start again from segment 1 (deduplication tokens use them)."""
    used = []
    for _ in range(3):
        wal = WriteAheadLog(tmp_path)
        wal.append_durable(Signal.TRACES, b"x")
        wal.seal_if_older(0)
        for seq in wal.sealed():
            used.append(seq)
            wal.remove(seq)  # flushed: the directory holds no segment any more
        ident = wal.id
        wal.close()
    assert used == sorted(set(used)) and len(used) == 3
    assert WriteAheadLog(tmp_path).id == ident


def test_size_bound_refuses_and_trimming_frees_space(tmp_path):
    wal = WriteAheadLog(tmp_path, max_bytes=4096, segment_bytes=1024)
    with pytest.raises(WalFull, match="holds"):
        for _ in range(100):
            wal.append_durable(Signal.TRACES, b"x" * 200)
    assert wal.total_bytes <= 4096
    wal.seal_if_older(0)
    for seq in wal.sealed():
        wal.remove(seq)
    wal.append_durable(Signal.TRACES, b"fits again")
    wal.close()


def test_concurrent_appends_are_all_durable_and_intact(tmp_path):
    wal = WriteAheadLog(tmp_path, segment_bytes=64 * 1024)
    errors = []

    def writer(n):
        try:
            for i in range(200):
                wal.append_durable(Signal.METRICS, f"{n}:{i}".encode() * 10)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    wal.close()
    wal = WriteAheadLog(tmp_path)
    records = [r.payload for seq in wal.sealed() for r in wal.read(seq)]
    assert len(records) == 1600 and len(set(records)) == 1600
    wal.close()


def test_one_process_owns_the_directory(tmp_path):
    import subprocess
    import sys

    wal = WriteAheadLog(tmp_path)
    code = f"from exptrace.ingest.log.wal import WriteAheadLog; WriteAheadLog({str(tmp_path)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (
        result.returncode != 0
        and "WalBusy" in result.stderr
        and "is in use by pid" in result.stderr
    )
    wal.close()
    assert WalBusy.__doc__


def _legacy(signal: Signal, payload: bytes) -> bytes:
    """A record as the previous release wrote it: ``EXW1`` and an unkeyed CRC-32."""
    crc = zlib.crc32(payload, zlib.crc32(bytes((signal,))))
    return HEADER.pack(b"EXW1", signal, len(payload), crc) + payload


def test_log_of_the_previous_release_is_read_in_full(tmp_path):
    # An upgrade with a non-empty log loses nothing: every old record is read, in order.
    payloads = [os.urandom(50 + i) for i in range(20)]
    (tmp_path / "id").write_text("0123456789abcdef")
    for seq in (1, 2):
        part = payloads[(seq - 1) * 10 : seq * 10]
        records = b"".join(_legacy(Signal(i % 3 + 1), p) for i, p in enumerate(part))
        (tmp_path / f"seg-{seq:012d}.wal").write_bytes(records)
    wal = WriteAheadLog(tmp_path)
    assert wal.damage == []
    assert [r.payload for seq in wal.sealed() for r in wal.read(seq)] == payloads
    wal.append_durable(Signal.TRACES, b"new-form")  # appends go on in the new form
    wal.close()
    wal = WriteAheadLog(tmp_path)
    got = [r.payload for seq in wal.sealed() for r in wal.read(seq)]
    assert got == [*payloads, b"new-form"] and wal.damage == []
    wal.close()


def test_old_form_records_are_never_resynchronised_to(tmp_path):
    # Damage, then an old-form record (its CRC anyone can compute), then a real record: only
    # the real one is read; the old-form bytes belong to the damaged range.
    wal = WriteAheadLog(tmp_path)
    wal.append_durable(Signal.TRACES, b"first-real")
    wal.append_durable(Signal.TRACES, b"second-real")
    wal.close()
    [segment] = list(tmp_path.glob("seg-*.wal"))
    data = segment.read_bytes()
    first = HEADER.size + len(b"first-real")
    forged = _legacy(Signal.TRACES, b"forged")
    segment.write_bytes(data[:first] + b"garbage" + forged + data[first:])
    wal = WriteAheadLog(tmp_path)
    got = [r.payload for seq in wal.sealed() for r in wal.read(seq)]
    assert got == [b"first-real", b"second-real"]
    [damage] = wal.damage
    assert damage.data == b"garbage" + forged and not damage.torn_tail
    wal.close()


def test_an_export_refused_on_a_sync_timeout_is_stored_once(tmp_path, monkeypatch):
    """A sync that hangs past an export's wait, then fails (a dying disk): the export was
    refused while its bytes were in the log. A retry meanwhile is recognised (the bytes may
    yet be stored); once the failed sync has cut them, the retry is logged: one copy."""
    real_fsync = os.fsync
    release, failing = threading.Event(), threading.Event()
    failing.set()

    def dying_fsync(fd: int) -> None:
        if failing.is_set():
            release.wait(60)
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    wal = WriteAheadLog(tmp_path)
    recent = RecentExports(wal, 600, IngestStats())
    monkeypatch.setattr(wal_module.os, "fsync", dying_fsync)
    payload = b"one export"

    def admit(timeout: float) -> bool:
        return recent.admit(
            Signal.TRACES, payload, 1, lambda: wal.append_durable(Signal.TRACES, payload, timeout)
        )

    with pytest.raises(WalPending):
        admit(0.1)  # the sync hangs: refused, the bytes in the log
    assert admit(0.1) is False  # a retry now: they may yet be stored
    release.set()  # the sync fails: the bytes are cut
    wait_for(lambda: wal.fault is not None)
    failing.clear()
    assert admit(30) is True  # the retry now is logged
    monkeypatch.setattr(wal_module.os, "fsync", real_fsync)
    seq = wal.seal() - 1
    assert [r.payload for r in wal.read(seq)] == [payload]
    wal.close()
