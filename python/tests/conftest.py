"""Fixtures of the package's test suite.

The suite tests the *installed* package: tests/python/main.rs installs it
with pip into a fresh venv and runs `python -m pytest python/tests` there
(`test_package.py` checks that `mavftp` was imported from that venv). Peers:

* ours: `mavftp.Server` in this process, on udpin; clients reach it with udpout;
* mavsdk: MAVSDK 4.1.0's FtpServer (tests/interop/mavsdk_ftp_server.py, run by
  the interop venv's python: $MAVFTP_INTEROP_PYTHON, or made by
  tests/interop/ensure_venv.sh); it heartbeats to a udpin client port.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

import mavftp
import mavftp.sync

REPO = Path(os.environ.get("MAVFTP_REPO", Path(__file__).resolve().parents[2]))
INTEROP = REPO / "tests" / "interop"

# A hung test dumps every thread's stack and ends the run instead of hanging CI.
TEST_LIMIT_S = 180


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_LIMIT_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def data(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes that differ per seed and have no short period."""
    return random.Random(seed * 1000003 + n).randbytes(n)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interop_python() -> str:
    py = os.environ.get("MAVFTP_INTEROP_PYTHON")
    if py:
        return py
    out = subprocess.run(["bash", str(INTEROP / "ensure_venv.sh")], check=True,
                         stdout=subprocess.PIPE, timeout=1200).stdout.decode()
    return out.strip().splitlines()[-1]


class MavsdkServer:
    """MAVSDK 4.1's FtpServer serving `root`, heartbeating to our udpin port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_udp_port()
        self.client_url = f"udpin://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [interop_python(), str(INTEROP / "mavsdk_ftp_server.py"), "--root", str(root),
             "--url", f"udpout://127.0.0.1:{self.port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        assert line == "READY", f"MAVSDK FtpServer did not start: {line!r}"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # EOF on stdin stops it
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class OurServer:
    """mavftp.Server in this process, on udpin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_udp_port()
        self.server = mavftp.Server(root, f"udpin://127.0.0.1:{self.port}")
        self.client_url = f"udpout://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.close()


def make_server(kind: str, root: Path):
    return OurServer(root) if kind == "ours" else MavsdkServer(root)


async def wait_connected(drone: mavftp.System, limit: float = 15.0) -> None:
    async def first_connected() -> None:
        async for state in drone.core.connection_state():
            if state.is_connected:
                return

    await asyncio.wait_for(first_connected(), limit)


async def connect_async(url: str) -> mavftp.System:
    drone = mavftp.System()
    await drone.connect(system_address=url)
    await wait_connected(drone)
    return drone


class AsyncDriver:
    """Runs each operation through the asyncio API (one asyncio.run per call)."""

    mode = "async"

    def __init__(self, url: str) -> None:
        self.drone = asyncio.run(connect_async(url))
        self.ftp = self.drone.ftp

    def run(self, coro):
        return asyncio.run(coro)

    def download(self, remote: str, local_dir, use_burst: bool) -> List[mavftp.ProgressData]:
        async def go():
            return [p async for p in self.ftp.download(remote, str(local_dir), use_burst)]
        return self.run(go())

    def upload(self, local_file, remote_dir: str) -> List[mavftp.ProgressData]:
        async def go():
            return [p async for p in self.ftp.upload(str(local_file), remote_dir)]
        return self.run(go())

    def list_directory(self, remote_dir: str):
        return self.run(self.ftp.list_directory(remote_dir))

    def create_directory(self, remote_dir: str) -> None:
        self.run(self.ftp.create_directory(remote_dir))

    def remove_directory(self, remote_dir: str) -> None:
        self.run(self.ftp.remove_directory(remote_dir))

    def remove_file(self, remote_file_path: str) -> None:
        self.run(self.ftp.remove_file(remote_file_path))

    def rename(self, a: str, b: str) -> None:
        self.run(self.ftp.rename(a, b))

    def are_files_identical(self, local_file, remote: str) -> bool:
        return self.run(self.ftp.are_files_identical(str(local_file), remote))

    def set_target_compid(self, compid: int) -> None:
        self.run(self.ftp.set_target_compid(compid))

    def close(self) -> None:
        self.drone.close()


class SyncDriver:
    """Runs each operation through mavftp.sync."""

    mode = "sync"

    def __init__(self, url: str) -> None:
        self.drone = mavftp.sync.System()
        self.drone.connect(url, timeout=15)
        self.ftp = self.drone.ftp

    def download(self, remote: str, local_dir, use_burst: bool) -> List[mavftp.ProgressData]:
        seen: List[mavftp.ProgressData] = []
        self.ftp.download(remote, local_dir, use_burst, progress=seen.append)
        return seen

    def upload(self, local_file, remote_dir: str) -> List[mavftp.ProgressData]:
        seen: List[mavftp.ProgressData] = []
        self.ftp.upload(local_file, remote_dir, progress=seen.append)
        return seen

    def __getattr__(self, name: str):
        return getattr(self.ftp, name)

    def close(self) -> None:
        self.drone.close()


PEERS = [("ours", "async"), ("ours", "sync"), ("mavsdk", "async"), ("mavsdk", "sync")]


class Peer:
    """A server (ours or MAVSDK's) and a connected client (async or sync API)."""

    def __init__(self, kind: str, mode: str, root: Path) -> None:
        self.kind = kind
        self.mode = mode
        self.root = root
        self.server = make_server(kind, root)
        try:
            self.client = AsyncDriver(self.server.client_url) if mode == "async" else SyncDriver(self.server.client_url)
        except BaseException:
            self.server.close()
            raise
        self._areas = 0

    def area(self) -> str:
        """A fresh remote directory (created on the server's disk) for one test."""
        self._areas += 1
        name = f"t{self._areas}"
        (self.root / name).mkdir()
        return "/" + name

    def close(self) -> None:
        self.client.close()
        self.server.close()


@pytest.fixture(scope="module", params=PEERS, ids=[f"{k}-{m}" for k, m in PEERS])
def peer(request, tmp_path_factory) -> Iterator[Peer]:
    kind, mode = request.param
    p = Peer(kind, mode, tmp_path_factory.mktemp(f"root-{kind}-{mode}"))
    yield p
    p.close()


@pytest.fixture
def our_server(tmp_path) -> Iterator[OurServer]:
    root = tmp_path / "root"
    root.mkdir()
    s = OurServer(root)
    yield s
    s.close()


@pytest.fixture
def local_dir(tmp_path) -> Path:
    d = tmp_path / "local"
    d.mkdir()
    return d


def run_python(args: List[str], timeout: float = 60, env: Optional[dict] = None,
               **kw) -> subprocess.CompletedProcess:
    """Run this venv's python (the installed package) in a child process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=full_env, **kw)


def files_in(directory: Path) -> List[str]:
    """Every entry, hidden ones (partial downloads) included."""
    return sorted(os.listdir(directory))


def wait_until(cond: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def big_sparse_file(path: Path, size: int) -> None:
    """A large file that costs no disk (reads as zeros)."""
    with open(path, "wb") as f:
        f.truncate(size)
