"""Failures map to MAVSDK's FtpResult values, with the library's explanation
in the exception; bad arguments never reach the wire."""

from __future__ import annotations

import asyncio

import pytest

import mavftp
import mavftp.sync
from conftest import data, free_udp_port, files_in
from mavftp.ftp import FtpError, FtpResult

R = FtpResult.Result


def result_of(call) -> FtpError:
    with pytest.raises(FtpError) as e:
        call()
    return e.value


def test_missing_remote_file_is_file_does_not_exist_with_the_path_in_the_message(peer, tmp_path):
    area = peer.area()
    local = tmp_path / "l"
    local.mkdir()
    for use_burst in (False, True):
        e = result_of(lambda: peer.client.download(f"{area}/missing.bin", local, use_burst))
        assert e._result.result == R.FILE_DOES_NOT_EXIST
        assert f"{area}/missing.bin" in e._result.result_str
        assert e._origin == "download()" and e._params[0] == f"{area}/missing.bin"
        assert f"{area}/missing.bin" in str(e) and "FILE_DOES_NOT_EXIST" in str(e)
    assert files_in(local) == []
    assert result_of(lambda: peer.client.remove_file(f"{area}/missing.bin"))._result.result == R.FILE_DOES_NOT_EXIST
    assert result_of(lambda: peer.client.list_directory(f"{area}/nodir"))._result.result == R.FILE_DOES_NOT_EXIST


def test_bad_arguments_are_invalid_parameter(peer, tmp_path):
    area = peer.area()
    (tmp_path / "f.bin").write_bytes(b"abc")
    bad_calls = [
        lambda: peer.client.download("/" + "a" * 238, tmp_path, False),  # 239 bytes: over 238
        lambda: peer.client.download("/a\0b", tmp_path, False),
        lambda: peer.client.download("", tmp_path, False),
        lambda: peer.client.upload(tmp_path / "f.bin", "/" + "d" * 300),
        lambda: peer.client.create_directory("/bad\udcff"),  # not encodable as UTF-8
        lambda: peer.client.rename(f"{area}/x", ""),
        lambda: peer.client.are_files_identical(tmp_path / "f\0.bin", f"{area}/x"),
        lambda: peer.client.set_target_compid(256),
        lambda: peer.client.set_target_compid(-1),
    ]
    for call in bad_calls:
        e = result_of(call)
        assert e._result.result == R.INVALID_PARAMETER, e
        assert e._result.result_str  # says what was wrong
    assert "238" in result_of(bad_calls[0])._result.result_str
    assert files_in(tmp_path) == ["f.bin"]


def test_wrong_argument_types_raise_type_error(peer, tmp_path):
    with pytest.raises(TypeError):
        peer.client.remove_file(None)
    with pytest.raises(TypeError):
        peer.client.download(b"/bytes-path", tmp_path, False)
    with pytest.raises(TypeError):
        peer.client.set_target_compid("1")


def test_download_into_a_missing_local_directory_is_file_io_error(peer, tmp_path):
    area = peer.area()
    (peer.root / area[1:] / "f.bin").write_bytes(data(10))
    e = result_of(lambda: peer.client.download(f"{area}/f.bin", tmp_path / "nowhere", False))
    assert e._result.result == R.FILE_IO_ERROR


def test_upload_of_a_missing_local_file_is_file_does_not_exist(peer, tmp_path):
    e = result_of(lambda: peer.client.upload(tmp_path / "missing.bin", peer.area()))
    assert e._result.result == R.FILE_DOES_NOT_EXIST


def test_unheard_system_is_no_system(tmp_path):
    port = free_udp_port()  # nobody there

    async def main():
        drone = mavftp.System()
        await drone.connect(system_address=f"udpout://127.0.0.1:{port}")
        drone.ftp.set_timeout(0.1, 2)
        with pytest.raises(FtpError) as e:
            await drone.ftp.list_directory("/")
        with pytest.raises(FtpError) as e2:
            async for _ in drone.ftp.download("/f.bin", str(tmp_path), True):
                pass
        drone.close()
        return e.value, e2.value

    e, e2 = asyncio.run(asyncio.wait_for(main(), 60))
    assert e._result.result == R.NO_SYSTEM and e2._result.result == R.NO_SYSTEM
    assert files_in(tmp_path) == []

    drone = mavftp.sync.System()
    with pytest.raises(FtpError) as e3:
        drone.connect(f"udpout://127.0.0.1:{port}", timeout=0.5)
    assert e3.value._result.result == R.NO_SYSTEM
    drone.ftp.set_timeout(0.1, 2)
    assert result_of(lambda: drone.ftp.remove_file("/x"))._result.result == R.NO_SYSTEM
    drone.close()


def test_bad_connection_urls(tmp_path):
    for url in ("bogus://x", "udpin://127.0.0.1", "udpout://127.0.0.1:notaport", "a\0b"):
        drone = mavftp.sync.System()
        e = result_of(lambda: drone.connect(url))
        assert e._result.result == R.INVALID_PARAMETER, (url, e)
        assert e._origin == "connect()"
    port = free_udp_port()
    holder = mavftp.Server(tmp_path, f"udpin://127.0.0.1:{port}")
    try:
        e = result_of(lambda: mavftp.sync.System().connect(f"udpin://127.0.0.1:{port}"))  # port taken
        assert e._result.result == R.FILE_IO_ERROR
    finally:
        holder.close()


def test_server_refuses_a_missing_root_and_read_only_means_file_protected(tmp_path):
    e = result_of(lambda: mavftp.Server(tmp_path / "missing", f"udpin://127.0.0.1:{free_udp_port()}"))
    assert e._result.result == R.FILE_DOES_NOT_EXIST
    port = free_udp_port()
    with mavftp.Server(tmp_path, f"udpin://127.0.0.1:{port}", read_only=True) as server:
        with mavftp.sync.System() as drone:
            drone.connect(f"udpout://127.0.0.1:{port}", timeout=15)
            e = result_of(lambda: drone.ftp.create_directory("/d"))
            assert e._result.result == R.FILE_PROTECTED
            server.set_read_only(False)
            drone.ftp.create_directory("/d")
    assert (tmp_path / "d").is_dir()
