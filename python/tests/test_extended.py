"""The extended transfers (issue 13) through the asyncio API and mavftp.sync,
against our server and MAVSDK 4.1's FtpServer, byte for byte: download_ex
(resume, verify), upload_ex, download_dir / upload_dir (glob, identical files
skipped), download_to_memory."""

from __future__ import annotations

import asyncio
import inspect

import pytest

import mavftp.sync
from conftest import data
from mavftp.ftp import Ftp, FtpError, FtpResult

R = FtpResult.Result

EXTENDED = {
    "download_ex": ["remote_file_path", "local_dir", "use_burst", "resume", "verify"],
    "upload_ex": ["local_file_path", "remote_dir", "verify"],
    "download_dir": ["remote_dir", "local_dir", "use_burst", "glob", "resume", "verify", "skip_identical"],
    "upload_dir": ["local_dir", "remote_dir", "glob", "verify", "skip_identical"],
    "download_to_memory": ["remote_file_path", "use_burst", "verify"],
}


def params(fn) -> list:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


@pytest.mark.parametrize("name", sorted(EXTENDED))
def test_extended_methods_have_the_same_parameters_in_both_apis(name):
    assert params(getattr(Ftp, name)) == EXTENDED[name]
    extra = [] if name == "download_to_memory" else ["progress"]
    assert params(getattr(mavftp.sync.Ftp, name)) == EXTENDED[name] + extra


def call(peer, name, *args, **kw):
    """Run an extended method with the peer's API; the progress seen (or the value)."""
    ftp = peer.client.ftp
    if peer.mode == "sync":
        if name == "download_to_memory":
            return getattr(ftp, name)(*args, **kw)
        seen = []
        getattr(ftp, name)(*args, progress=seen.append, **kw)
        return seen

    async def go():
        if name == "download_to_memory":
            return await getattr(ftp, name)(*args, **kw)
        return [p async for p in getattr(ftp, name)(*args, **kw)]

    return peer.client.run(go())


def tree(root, files):
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@pytest.mark.parametrize("use_burst", [False, True], ids=["plain", "burst"])
def test_download_ex_verified_byte_for_byte_and_no_resume_state_left(peer, tmp_path, use_burst):
    area = peer.area()
    content = data(300_000, seed=41 + use_burst)
    (peer.root / area[1:] / "v.bin").write_bytes(content)
    local = tmp_path / f"dl{use_burst}"
    local.mkdir()
    seen = call(peer, "download_ex", f"{area}/v.bin", local, use_burst, verify=True)
    assert (local / "v.bin").read_bytes() == content
    assert sorted(p.name for p in local.iterdir()) == ["v.bin"]
    assert seen and (seen[-1].bytes_transferred, seen[-1].total_bytes) == (300_000, 300_000)
    assert call(peer, "download_to_memory", f"{area}/v.bin", use_burst, verify=True) == content


def test_upload_ex_verified(peer, tmp_path):
    area = peer.area()
    src = tmp_path / "u.bin"
    src.write_bytes(data(200_000, 5))
    call(peer, "upload_ex", src, area, verify=True)
    assert (peer.root / area[1:] / "u.bin").read_bytes() == src.read_bytes()


def test_directories_both_ways_with_glob_and_a_second_run_that_skips(peer, tmp_path):
    area = peer.area()
    files = {f"{d}f{i}.{'log' if i % 2 else 'txt'}": data(i * 3000, i)
             for i, d in enumerate(["", "a/", "a/b/", "c/"] * 3)}
    tree(peer.root / area[1:] / "logs", files)
    local = tmp_path / "pull"
    local.mkdir()
    seen = call(peer, "download_dir", f"{area}/logs", local)
    for rel, content in files.items():
        assert (local / rel).read_bytes() == content, rel
    total = sum(len(c) for c in files.values())
    assert seen[-1].total_bytes == total and seen[-1].bytes_transferred == total
    again = call(peer, "download_dir", f"{area}/logs", local)
    assert not again or again[-1].bytes_transferred == 0, "nothing moved the second time"
    only = tmp_path / "only_logs"
    only.mkdir()
    call(peer, "download_dir", f"{area}/logs", only, glob="*.log")
    got = sorted(str(p.relative_to(only)) for p in only.rglob("*") if p.is_file())
    assert got == sorted(r for r in files if r.endswith(".log"))
    # Back up the other way.
    (peer.root / area[1:] / "back").mkdir()
    call(peer, "upload_dir", local, f"{area}/back")
    for rel, content in files.items():
        assert (peer.root / area[1:] / "back" / rel).read_bytes() == content, rel


def test_a_missing_directory_raises_file_does_not_exist(peer, tmp_path):
    with pytest.raises(FtpError) as e:
        call(peer, "download_dir", "/no/such/dir", tmp_path)
    assert e.value._result.result == R.FILE_DOES_NOT_EXIST


def test_a_cancelled_download_ex_resumes_and_leaves_nothing_once_complete(our_server, local_dir):
    content = data(4 << 20, 9)
    (our_server.root / "big.bin").write_bytes(content)

    async def go():
        drone = mavftp.System()
        await drone.connect(system_address=our_server.client_url)
        try:
            # Stop after the first progress: the task's cancel ends the download.
            async for _ in drone.ftp.download_ex("/big.bin", str(local_dir)):
                break
            left = sorted(p.name for p in local_dir.iterdir())
            async for _ in drone.ftp.download_ex("/big.bin", str(local_dir), verify=True):
                pass
            return left
        finally:
            drone.close()

    left = asyncio.run(go())
    assert left == [".big.bin.mavftp-resume", ".big.bin.mavftp-resume.meta"], left
    assert (local_dir / "big.bin").read_bytes() == content
    assert sorted(p.name for p in local_dir.iterdir()) == ["big.bin"]
