"""asyncio behaviour: cancelling the awaiting task cancels the transfer (and
only it), concurrent operations on one loop, progress delivery."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import big_sparse_file, connect_async, data, files_in
from mavftp.ftp import FtpError, FtpResult

R = FtpResult.Result
BIG = 64 << 20  # long enough to be cancelled midway on any machine


def test_cancelling_the_task_mid_download_cancels_it_and_leaves_no_file(our_server, local_dir):
    big_sparse_file(our_server.root / "big.bin", BIG)

    async def main():
        drone = await connect_async(our_server.client_url)
        started = asyncio.Event()
        seen = []

        async def download():
            async for p in drone.ftp.download("/big.bin", str(local_dir), use_burst=False):
                seen.append(p)
                started.set()

        task = asyncio.ensure_future(download())
        await asyncio.wait_for(started.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert 0 < seen[-1].bytes_transferred < BIG
        # The transfer has ended when the task has: no file, no partial file.
        assert files_in(local_dir) == []
        # The connection is free for the next operation at once.
        assert (await asyncio.wait_for(drone.ftp.list_directory("/"), 10)).files == ["big.bin"]
        drone.close()

    asyncio.run(main())


def test_wait_for_timeout_cancels_a_burst_download(our_server, local_dir):
    big_sparse_file(our_server.root / "big.bin", BIG)

    async def main():
        drone = await connect_async(our_server.client_url)

        async def download():
            async for _ in drone.ftp.download("/big.bin", str(local_dir), use_burst=True):
                pass

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(download(), 0.3)
        assert files_in(local_dir) == []
        drone.close()

    asyncio.run(main())


def test_breaking_out_of_the_progress_loop_cancels_the_download(our_server, local_dir):
    big_sparse_file(our_server.root / "big.bin", BIG)

    async def main():
        drone = await connect_async(our_server.client_url)
        progress = drone.ftp.download("/big.bin", str(local_dir), use_burst=False)
        async for p in progress:
            if p.bytes_transferred > 0:
                break
        await progress.aclose()  # what the loop's async-generator hooks do later
        assert files_in(local_dir) == []
        drone.close()

    asyncio.run(main())


def test_ftp_cancel_ends_the_transfer_with_cancelled(our_server, local_dir):
    big_sparse_file(our_server.root / "big.bin", BIG)

    async def main():
        drone = await connect_async(our_server.client_url)
        with pytest.raises(FtpError) as e:
            async for p in drone.ftp.download("/big.bin", str(local_dir), use_burst=False):
                if p.bytes_transferred:
                    drone.ftp.cancel()
        assert e.value._result.result == R.CANCELLED
        assert e.value._origin == "download()"
        assert files_in(local_dir) == []
        drone.close()

    asyncio.run(main())


def test_two_concurrent_downloads_and_a_listing_on_one_loop(our_server, local_dir):
    a, b = data(300_000, 1), data(200_001, 2)
    (our_server.root / "a.bin").write_bytes(a)
    (our_server.root / "b.bin").write_bytes(b)

    async def main():
        drone = await connect_async(our_server.client_url)

        async def fetch(name, burst):
            return [p async for p in drone.ftp.download(f"/{name}", str(local_dir), burst)]

        pa, pb, listing = await asyncio.gather(
            fetch("a.bin", True), fetch("b.bin", False), drone.ftp.list_directory("/"))
        drone.close()
        return pa, pb, listing

    pa, pb, listing = asyncio.run(main())
    assert (local_dir / "a.bin").read_bytes() == a
    assert (local_dir / "b.bin").read_bytes() == b
    assert pa[-1].bytes_transferred == len(a) and pb[-1].bytes_transferred == len(b)
    assert listing.files == ["a.bin", "b.bin"]


def test_cancelling_a_queued_operation_leaves_the_running_one_alone(our_server, local_dir):
    content = data(3 << 20, 5)
    (our_server.root / "run.bin").write_bytes(content)
    (our_server.root / "queued.bin").write_bytes(b"q" * 1000)

    async def main():
        drone = await connect_async(our_server.client_url)
        started = asyncio.Event()

        async def running():
            async for _ in drone.ftp.download("/run.bin", str(local_dir), False):
                started.set()

        async def queued():
            async for _ in drone.ftp.download("/queued.bin", str(local_dir), False):
                pass

        first = asyncio.ensure_future(running())
        await asyncio.wait_for(started.wait(), 30)
        second = asyncio.ensure_future(queued())
        await asyncio.sleep(0)  # let it queue behind the first
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await asyncio.wait_for(first, 60)
        drone.close()

    asyncio.run(main())
    assert (local_dir / "run.bin").read_bytes() == content
    assert not (local_dir / "queued.bin").exists()


def test_progress_reaches_the_loop_thread_never_a_library_thread(our_server, local_dir):
    (our_server.root / "p.bin").write_bytes(data(1 << 20, 9))

    async def main():
        drone = await connect_async(our_server.client_url)
        loop_thread = threading.get_ident()
        threads = set()
        async for _ in drone.ftp.download("/p.bin", str(local_dir), True):
            threads.add(threading.get_ident())
        async for _ in drone.ftp.upload(str(local_dir / "p.bin"), "/"):
            threads.add(threading.get_ident())
        drone.close()
        return threads, loop_thread

    threads, loop_thread = asyncio.run(main())
    assert threads == {loop_thread}


def test_operations_after_close_fail_with_cancelled_and_the_plugin_is_gone(our_server):
    async def main():
        drone = await connect_async(our_server.client_url)
        ftp = drone.ftp
        drone.close()
        with pytest.raises(FtpError) as e:
            await ftp.list_directory("/")
        assert e.value._result.result == R.CANCELLED
        with pytest.raises(RuntimeError):
            drone.ftp

    asyncio.run(main())


def test_connection_state_is_false_then_true_when_the_vehicle_heartbeats(our_server):
    async def main():
        drone = mavftp_system()
        await drone.connect(system_address=our_server.client_url)
        states = []
        async for state in drone.core.connection_state():
            states.append(state.is_connected)
            if state.is_connected:
                break
        drone.close()
        return states

    states = asyncio.run(asyncio.wait_for(main(), 15))
    assert states[-1] is True and states.count(True) == 1


def mavftp_system():
    import mavftp

    return mavftp.System()
