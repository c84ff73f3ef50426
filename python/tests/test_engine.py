"""The bridge's own guarantees, below the public API."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

import mavftp
import mavftp.sync
from conftest import wait_until
from mavftp import _engine, _native
from mavftp.ftp import FtpError, FtpResult


class RecordingSink(_engine.Sink):
    def __init__(self) -> None:
        self.outcome = None
        self.done = threading.Event()
        self.thread = None

    def progress(self, transferred: int, total: int) -> None:
        pass

    def finish(self, outcome) -> None:
        self.outcome = outcome
        self.thread = threading.current_thread()
        self.done.set()


def test_a_connection_whose_last_reference_dies_on_a_library_thread_is_freed_elsewhere(our_server, monkeypatch):
    # Nothing but the running operation holds the connection: when the
    # library's final callback returns, the last reference goes with it, on
    # the library's worker thread, where the header forbids freeing the
    # client (the free waits for that very thread). It must happen elsewhere.
    seen = []
    real = _engine._free_off_callback

    def spy(free):
        seen.append(("dropped", _engine.in_library_callback()))

        def traced():
            seen.append(("freed", _engine.in_library_callback(), threading.current_thread().name))
            free()

        real(traced)

    monkeypatch.setattr(_engine, "_free_off_callback", spy)
    (our_server.root / "f.txt").write_bytes(b"x")
    conn = _engine.Connection(our_server.client_url, 245, 190, 1, 1)
    gone = weakref.ref(conn)
    sink = RecordingSink()
    conn.submit(_engine.Operation("list", (b"/",), sink))
    del conn
    gc.collect()
    assert sink.done.wait(30)
    assert sink.outcome.code == _native.SUCCESS
    wait_until(lambda: gone() is None, 10, "the connection to be collected")
    wait_until(lambda: not any(t.name == "mavftp-free" for t in threading.enumerate()), 10,
               "the client to be freed")
    assert sink.thread is not threading.main_thread()
    wait_until(lambda: len(seen) == 2, 10, "the free")
    assert seen == [("dropped", True), ("freed", False, "mavftp-free")]


def test_every_submitted_operation_gets_exactly_one_outcome_even_when_closed_midway(our_server):
    (our_server.root / "big.bin").write_bytes(b"\0" * (8 << 20))
    conn = _engine.Connection(our_server.client_url, 245, 190, 1, 1)
    sinks = [RecordingSink() for _ in range(5)]
    finishes = []
    for s in sinks:
        original = s.finish
        s.finish = lambda outcome, original=original: (finishes.append(outcome), original(outcome))
        conn.submit(_engine.Operation("list", (b"/",), s))
    conn.close()
    for s in sinks:
        assert s.done.wait(30)
    assert len(finishes) == 5
    assert all(o.code in (_native.SUCCESS, _native.CANCELLED) for o in finishes)
    late = RecordingSink()
    conn.submit(_engine.Operation("list", (b"/",), late))
    assert late.done.wait(5) and late.outcome.code == _native.CANCELLED


def test_set_timeout_checks_its_range(our_server):
    with mavftp.sync.System() as drone:
        drone.connect(our_server.client_url)
        for bad in ((0, 3), (-1, 3), (1.0, -1), (5000, 1)):
            with pytest.raises(FtpError) as e:
                drone.ftp.set_timeout(*bad)
            assert e.value._result.result == FtpResult.Result.INVALID_PARAMETER
        drone.ftp.set_timeout(0.2, 3)
