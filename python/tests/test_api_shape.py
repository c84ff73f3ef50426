"""The names, signatures and values of MAVSDK-Python's mavsdk.ftp (checked
against its generated source and its protobuf definition), kept exactly."""

from __future__ import annotations

import inspect

import pytest

import mavftp
import mavftp.sync
from mavftp.ftp import Ftp, FtpError, FtpResult, ListDirectoryData, ProgressData

MAVSDK_RESULTS = [
    ("UNKNOWN", 0), ("SUCCESS", 1), ("NEXT", 2), ("TIMEOUT", 3), ("BUSY", 4), ("FILE_IO_ERROR", 5),
    ("FILE_EXISTS", 6), ("FILE_DOES_NOT_EXIST", 7), ("FILE_PROTECTED", 8), ("INVALID_PARAMETER", 9),
    ("UNSUPPORTED", 10), ("PROTOCOL_ERROR", 11), ("NO_SYSTEM", 12),
]

# MAVSDK-Python's Ftp methods and their parameters.
MAVSDK_METHODS = {
    "download": ["remote_file_path", "local_dir", "use_burst"],
    "upload": ["local_file_path", "remote_dir"],
    "list_directory": ["remote_dir"],
    "create_directory": ["remote_dir"],
    "remove_directory": ["remote_dir"],
    "remove_file": ["remote_file_path"],
    "rename": ["remote_from_path", "remote_to_path"],
    "are_files_identical": ["local_file_path", "remote_file_path"],
    "set_target_compid": ["compid"],
}


def params(fn) -> list:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def test_result_members_and_values_are_mavsdks_plus_cancelled():
    assert [(m.name, m.value) for m in FtpResult.Result] == MAVSDK_RESULTS + [("CANCELLED", 13)]
    assert str(FtpResult.Result.NO_SYSTEM) == "NO_SYSTEM"


@pytest.mark.parametrize("name", sorted(MAVSDK_METHODS))
def test_async_ftp_methods_have_mavsdks_names_parameters_and_kinds(name):
    fn = getattr(Ftp, name)
    assert params(fn) == MAVSDK_METHODS[name]
    if name in ("download", "upload"):
        assert inspect.isasyncgenfunction(fn)
    else:
        assert inspect.iscoroutinefunction(fn)


@pytest.mark.parametrize("name", sorted(MAVSDK_METHODS))
def test_sync_ftp_has_the_same_names_plus_a_progress_callable(name):
    fn = getattr(mavftp.sync.Ftp, name)
    extra = ["progress"] if name in ("download", "upload") else []
    assert params(fn) == MAVSDK_METHODS[name] + extra
    assert not inspect.iscoroutinefunction(fn) and not inspect.isasyncgenfunction(fn)


def test_entry_points_and_types_import_as_in_mavsdk():
    from mavftp import System
    from mavftp.ftp import Ftp as F, FtpError as E, FtpResult as R, ListDirectoryData as L, ProgressData as P

    assert (F, E, R, L, P) == (Ftp, FtpError, FtpResult, ListDirectoryData, ProgressData)
    assert params(System.__init__)[:4] == ["mavsdk_server_address", "port", "sysid", "compid"]
    assert params(System.connect)[0] == "system_address"
    assert inspect.iscoroutinefunction(System.connect)
    assert mavftp.DEFAULT_ADDRESS == "udpin://0.0.0.0:14540"


def test_plugins_before_connect_raise_like_mavsdk():
    drone = mavftp.System()
    with pytest.raises(RuntimeError, match="Did you run `System.connect\\(\\)`"):
        drone.ftp
    with pytest.raises(RuntimeError):
        drone.core


def test_ftp_error_carries_result_origin_and_params_like_mavsdk():
    e = FtpError(FtpResult(FtpResult.Result.FILE_EXISTS, "file exists: /d"), "create_directory()", "/d")
    assert e._result.result == FtpResult.Result.FILE_EXISTS and e.result == FtpResult.Result.FILE_EXISTS
    assert e._origin == "create_directory()" and e._params == ("/d",)
    assert str(e) == "FILE_EXISTS: 'file exists: /d'; origin: create_directory(); params: ('/d',)"
    assert isinstance(e, Exception)


def test_data_types_compare_and_print_like_mavsdk():
    assert ProgressData(1, 2) == ProgressData(1, 2) and ProgressData(1, 2) != ProgressData(2, 2)
    assert str(ProgressData(1, 2)) == "ProgressData: [bytes_transferred: 1, total_bytes: 2]"
    a = ListDirectoryData(["d"], ["f"])
    assert a == ListDirectoryData(["d"], ["f"]) and a.dirs == ["d"] and a.files == ["f"]
    assert str(a) == "ListDirectoryData: [dirs: ['d'], files: ['f']]"
    assert str(FtpResult(FtpResult.Result.SUCCESS, "ok")) == "FtpResult: [result: SUCCESS, result_str: ok]"
