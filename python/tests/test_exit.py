"""A process that exits with a transfer in flight neither hangs nor crashes,
and leaves no partial file: each case runs a child python that starts a long
download from our server (in this process), waits for the first progress,
and then exits in one of the ways scripts do."""

from __future__ import annotations

import textwrap
import time

import pytest

from conftest import big_sparse_file, files_in, run_python

BIG = 256 << 20

PRELUDE = """
import asyncio, os, sys, threading, time
import mavftp, mavftp.sync
URL, LOCAL = sys.argv[1], sys.argv[2]

async def connected():
    drone = mavftp.System()
    await drone.connect(system_address=URL)
    async for state in drone.core.connection_state():
        if state.is_connected:
            return drone
"""

CASES = {
    # asyncio.run() returns while a download task still runs: asyncio cancels it.
    "asyncio_run_returns_with_a_task_in_flight": """
        async def main():
            drone = await connected()
            started = asyncio.Event()
            async def fetch():
                async for p in drone.ftp.download("/big.bin", LOCAL, use_burst=False):
                    started.set()
            asyncio.ensure_future(fetch())
            await started.wait()
            print("IN FLIGHT", flush=True)
        asyncio.run(main())
    """,
    # The event loop runs in a daemon thread; the main thread just ends.
    "main_thread_ends_while_a_daemon_loop_downloads": """
        started = threading.Event()
        async def main():
            drone = await connected()
            try:
                async for p in drone.ftp.download("/big.bin", LOCAL, use_burst=True):
                    started.set()
            except mavftp.FtpError:  # CANCELLED when the process exits
                pass
        threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
        started.wait(60)
        print("IN FLIGHT", flush=True)
    """,
    # A blocking download in a daemon thread; the main thread ends.
    "main_thread_ends_while_a_daemon_thread_downloads_sync": """
        started = threading.Event()
        drone = mavftp.sync.System()
        drone.connect(URL, timeout=30)
        def fetch():
            try:
                drone.ftp.download("/big.bin", LOCAL, use_burst=False, progress=lambda p: started.set())
            except mavftp.FtpError:  # CANCELLED when the process exits
                pass
        threading.Thread(target=fetch, daemon=True).start()
        started.wait(60)
        print("IN FLIGHT", flush=True)
    """,
    # sys.exit() from a progress callback.
    "sys_exit_from_a_progress_callback": """
        drone = mavftp.sync.System()
        drone.connect(URL, timeout=30)
        def progress(p):
            print("IN FLIGHT", flush=True)
            sys.exit(0)
        drone.ftp.download("/big.bin", LOCAL, use_burst=True, progress=progress)
    """,
    # The System is dropped mid-transfer inside a still running loop, then exit.
    "system_garbage_collected_mid_transfer": """
        async def main():
            drone = await connected()
            gen = drone.ftp.download("/big.bin", LOCAL, use_burst=False)
            await gen.__anext__()
            print("IN FLIGHT", flush=True)
            del drone
        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_exit_with_a_transfer_in_flight_is_prompt_clean_and_leaves_no_file(our_server, local_dir, tmp_path, case):
    big_sparse_file(our_server.root / "big.bin", BIG)
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(CASES[case]))
    t0 = time.monotonic()
    out = run_python([str(script), our_server.client_url, str(local_dir)], timeout=60)
    elapsed = time.monotonic() - t0
    stdout, stderr = out.stdout.decode(), out.stderr.decode()
    assert "IN FLIGHT" in stdout, stderr
    assert out.returncode == 0, f"exit {out.returncode}\n{stderr}"
    for bad in ("Traceback", "Fatal Python error", "Exception ignored", "Segmentation", "panicked"):
        assert bad not in stderr, stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    # The download was still running (256 MiB) and was ended with its partial file.
    assert files_in(local_dir) == []


# The last reference to a connection dies on a library worker inside its
# callback (the main thread dropped its System first), so the free runs on a
# "mavftp-free" thread; the interpreter then exits while that worker is still
# in the callback. Before the package's atexit hook waited for such frees,
# CPython (<= 3.13) ended the worker with pthread_exit as it re-entered
# Python, and the forced unwind through the library's Rust frames aborted the
# process ("FATAL: exception not rethrown"), now and then in the MAVSDK-style
# script. Two windows a GIL switch wide are held open here so that it happens
# every time without the hook.
LAST_REFERENCE_ON_THE_WORKER = """
import sys, threading, time, weakref
import mavftp._engine as E
import mavftp.sync

_finish = E.ThreadSink.finish
def lingering_finish(self, outcome):
    _finish(self, outcome)
    if threading.current_thread() is not threading.main_thread():
        time.sleep(0.3)  # the main thread drops the System meanwhile
E.ThreadSink.finish = lingering_finish

_start = threading.Thread.start
def late_start(self):
    if self.name == "mavftp-free":
        deadline = time.monotonic() + 2  # until the interpreter finalizes
        while not sys.is_finalizing() and time.monotonic() < deadline:
            time.sleep(0.001)
    _start(self)
threading.Thread.start = late_start

def main():
    drone = mavftp.sync.System()
    drone.connect(sys.argv[1], timeout=30)
    ref = weakref.ref(drone._conn)
    drone.ftp.list_directory("/")
    return ref
ref = main()
deadline = time.monotonic() + 10
while ref() is not None and time.monotonic() < deadline:
    time.sleep(0.01)
print("LAST REFERENCE DROPPED ON THE WORKER" if ref() is None else "DROPPED HERE", flush=True)
"""


def test_exit_while_a_free_begun_in_a_callback_is_pending_does_not_abort(our_server, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(LAST_REFERENCE_ON_THE_WORKER)
    t0 = time.monotonic()
    out = run_python([str(script), our_server.client_url], timeout=60)
    elapsed = time.monotonic() - t0
    stdout, stderr = out.stdout.decode(), out.stderr.decode()
    assert "LAST REFERENCE DROPPED ON THE WORKER" in stdout, stdout + stderr
    assert out.returncode == 0, f"exit {out.returncode}\n{stderr}"
    for bad in ("FATAL", "Fatal Python error", "Traceback", "Exception ignored"):
        assert bad not in stderr, stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
