"""Every operation, through the asyncio API and through mavftp.sync, against
our embedded server and against MAVSDK 4.1's FtpServer, byte for byte."""

from __future__ import annotations

import datetime
import os

import pytest

from conftest import data
from mavftp.ftp import FtpError, FtpResult

R = FtpResult.Result
SIZES = [0, 1, 239, 240, 1 << 20]


def check_progress(seen, size: int) -> None:
    """Progress only grows, never passes the size, and ends at the size."""
    done = [p.bytes_transferred for p in seen]
    assert done == sorted(done), done
    assert all(p.bytes_transferred <= p.total_bytes or p.total_bytes == 0 for p in seen)
    if size:
        assert seen, "no progress at all"
        assert (seen[-1].bytes_transferred, seen[-1].total_bytes) == (size, size)


@pytest.mark.parametrize("use_burst", [False, True], ids=["plain", "burst"])
@pytest.mark.parametrize("size", SIZES)
def test_download_byte_for_byte(peer, tmp_path, size, use_burst):
    area = peer.area()
    content = data(size, seed=size % 97 + use_burst)
    (peer.root / area[1:] / f"f{size}.bin").write_bytes(content)
    local = tmp_path / "dl"
    local.mkdir()
    seen = peer.client.download(f"{area}/f{size}.bin", local, use_burst)
    assert (local / f"f{size}.bin").read_bytes() == content
    assert sorted(p.name for p in local.iterdir()) == [f"f{size}.bin"]  # no leftovers
    check_progress(seen, size)


@pytest.mark.parametrize("size", SIZES)
def test_upload_byte_for_byte(peer, tmp_path, size):
    area = peer.area()
    content = data(size, seed=size % 89 + 7)
    src = tmp_path / f"u{size}.bin"
    src.write_bytes(content)
    seen = peer.client.upload(src, area)
    assert (peer.root / area[1:] / f"u{size}.bin").read_bytes() == content
    check_progress(seen, size)


def test_list_directory_gives_dirs_files_and_entries_with_sizes(peer):
    area = peer.area()
    d = peer.root / area[1:]
    (d / "sub_b").mkdir()
    (d / "sub_a").mkdir()
    for name, size in (("z.bin", 300), ("a.txt", 0), ("m.dat", 1 << 20)):
        (d / name).write_bytes(data(size, 3))
    os.utime(d / "z.bin", (1_700_000_000, 1_700_000_000))
    listing = peer.client.list_directory(area)
    assert listing.dirs == ["sub_a", "sub_b"]
    assert listing.files == ["a.txt", "m.dat", "z.bin"]
    entries = {e.name: e for e in listing.entries}
    assert sorted(entries) == ["a.txt", "m.dat", "sub_a", "sub_b", "z.bin"]
    assert entries["m.dat"].size_bytes == 1 << 20 and not entries["m.dat"].is_dir
    assert entries["z.bin"].size_bytes == 300
    if peer.kind == "ours":
        assert entries["z.bin"].modification_time_s == 1_700_000_000
        assert entries["z.bin"].modification_time == datetime.datetime(2023, 11, 14, 22, 13, 20,
                                                                       tzinfo=datetime.timezone.utc)
    else:  # MAVSDK 4.1's server converts file-clock times with a rounding error (seen: 1 s early)
        assert abs(entries["z.bin"].modification_time_s - 1_700_000_000) <= 1
    assert entries["sub_a"].is_dir
    empty = peer.area()
    assert (peer.client.list_directory(empty).dirs, peer.client.list_directory(empty).files) == ([], [])


def test_create_rename_remove_directory_and_file(peer, tmp_path):
    area = peer.area()
    disk = peer.root / area[1:]
    peer.client.create_directory(f"{area}/new")
    assert (disk / "new").is_dir()
    with pytest.raises(FtpError) as e:
        peer.client.create_directory(f"{area}/new")
    assert e.value._result.result == R.FILE_EXISTS
    (disk / "new" / "f.bin").write_bytes(b"x" * 10)
    peer.client.rename(f"{area}/new/f.bin", f"{area}/new/g.bin")
    assert sorted(p.name for p in (disk / "new").iterdir()) == ["g.bin"]
    peer.client.rename(f"{area}/new", f"{area}/renamed")
    assert (disk / "renamed" / "g.bin").read_bytes() == b"x" * 10
    peer.client.remove_file(f"{area}/renamed/g.bin")
    assert not (disk / "renamed" / "g.bin").exists()
    peer.client.remove_directory(f"{area}/renamed")
    assert list(disk.iterdir()) == []


def test_are_files_identical_true_for_same_bytes_false_for_others(peer, tmp_path):
    area = peer.area()
    content = data(5000, 11)
    (peer.root / area[1:] / "c.bin").write_bytes(content)
    same = tmp_path / "same.bin"
    same.write_bytes(content)
    other = tmp_path / "other.bin"
    other.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    assert peer.client.are_files_identical(same, f"{area}/c.bin") is True
    assert peer.client.are_files_identical(other, f"{area}/c.bin") is False


def test_set_target_compid_then_operations_reach_that_component(peer):
    # Both servers answer as component 1; 256 is not a component id.
    peer.client.set_target_compid(1)
    assert peer.client.list_directory(peer.area()).files == []
    with pytest.raises(FtpError) as e:
        peer.client.set_target_compid(256)
    assert e.value._result.result == R.INVALID_PARAMETER
    assert "256" in e.value._result.result_str
