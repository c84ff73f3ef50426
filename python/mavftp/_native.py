"""Loading libmavftp and declaring its C functions for ctypes.

The library is looked for in this order:

1. the file named by the environment variable ``MAVFTP_LIBRARY`` (an explicit
   choice, e.g. a system install: ``MAVFTP_LIBRARY=/usr/local/lib/libmavftp.so``);
   if it cannot be loaded, importing mavftp fails and says why;
2. the copy bundled inside this package by ``pip install`` (the normal case);
3. ``libmavftp`` on the system's library search path.

Nothing is compiled at import time.
"""

from __future__ import annotations

import ctypes as C
import ctypes.util
import os
from pathlib import Path
from typing import List, Optional

ENV_VAR = "MAVFTP_LIBRARY"
_BUNDLED_NAMES = ("libmavftp.so", "libmavftp.dylib")

# mavftp_result values (0-12 are MAVSDK's FtpResult, 13 is our extension).
UNKNOWN = 0
SUCCESS = 1
NEXT = 2
TIMEOUT = 3
BUSY = 4
FILE_IO_ERROR = 5
FILE_EXISTS = 6
FILE_DOES_NOT_EXIST = 7
FILE_PROTECTED = 8
INVALID_PARAMETER = 9
UNSUPPORTED = 10
PROTOCOL_ERROR = 11
NO_SYSTEM = 12
CANCELLED = 13

# Longest remote path the protocol carries.
MAX_REMOTE_PATH = 238


class CProgress(C.Structure):
    _fields_ = [("bytes_transferred", C.c_uint32), ("total_bytes", C.c_uint32)]


class CEntry(C.Structure):
    _fields_ = [
        ("name", C.c_char_p),
        ("type", C.c_uint32),
        ("size_bytes", C.c_uint64),
        ("modification_time_s", C.c_uint64),
    ]


class CList(C.Structure):
    _fields_ = [
        ("dirs", C.POINTER(C.c_char_p)),
        ("dirs_len", C.c_size_t),
        ("files", C.POINTER(C.c_char_p)),
        ("files_len", C.c_size_t),
        ("entries", C.POINTER(CEntry)),
        ("entries_len", C.c_size_t),
    ]


class CTransferOptions(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("use_burst", C.c_bool),
        ("verify", C.c_bool),
        ("no_resume", C.c_bool),
        ("transfer_identical", C.c_bool),
        ("glob", C.c_char_p),
    ]


class CTransferProgress(C.Structure):
    _fields_ = [
        ("op_id", C.c_uint64),
        ("bytes_transferred", C.c_uint64),
        ("total_bytes", C.c_uint64),
        ("bytes_per_second", C.c_double),
        ("eta_seconds", C.c_double),
        ("file_index", C.c_uint32),
        ("file_count", C.c_uint32),
        ("files_failed", C.c_uint32),
        ("files_skipped", C.c_uint32),
        ("current_file", C.c_char_p),
    ]


class CBuffer(C.Structure):
    _fields_ = [("data", C.POINTER(C.c_uint8)), ("len", C.c_size_t)]


PROGRESS_CB = C.CFUNCTYPE(None, C.c_int32, CProgress, C.c_void_p)
TRANSFER_CB = C.CFUNCTYPE(None, C.c_int32, C.POINTER(CTransferProgress), C.c_void_p)
BUFFER_CB = C.CFUNCTYPE(None, C.c_int32, C.POINTER(CBuffer), C.c_void_p)
RESULT_CB = C.CFUNCTYPE(None, C.c_int32, C.c_void_p)
LIST_CB = C.CFUNCTYPE(None, C.c_int32, C.POINTER(CList), C.c_void_p)
BOOL_CB = C.CFUNCTYPE(None, C.c_int32, C.c_bool, C.c_void_p)

_P = C.c_void_p
_S = C.c_char_p
_RESULT_FUNCTIONS = {
    "mavftp_link_open": [_S, C.c_uint8, C.c_uint8, C.POINTER(_P)],
    "mavftp_link_first_heard_system": [_P, C.POINTER(C.c_uint8)],
    "mavftp_link_last_heard": [_P, C.c_uint8, C.c_uint8, C.POINTER(C.c_uint64)],
    "mavftp_server_new": [_P, _S, C.POINTER(_P)],
    "mavftp_server_set_read_only": [_P, C.c_bool],
    "mavftp_server_set_link_rate": [_P, C.c_uint32],
    "mavftp_client_new": [_P, C.c_uint8, C.c_uint8, C.POINTER(_P)],
    "mavftp_client_set_target_compid": [_P, C.c_uint32],
    "mavftp_client_set_timeout": [_P, C.c_uint32, C.c_uint32],
    "mavftp_client_set_window_caps": [_P, C.c_uint32, C.c_uint32],
    "mavftp_client_cancel": [_P],
    "mavftp_client_download_async": [_P, _S, _S, C.c_bool, PROGRESS_CB, _P],
    "mavftp_client_upload_async": [_P, _S, _S, PROGRESS_CB, _P],
    "mavftp_client_list_directory_async": [_P, _S, LIST_CB, _P],
    "mavftp_client_create_directory_async": [_P, _S, RESULT_CB, _P],
    "mavftp_client_remove_directory_async": [_P, _S, RESULT_CB, _P],
    "mavftp_client_remove_file_async": [_P, _S, RESULT_CB, _P],
    "mavftp_client_rename_async": [_P, _S, _S, RESULT_CB, _P],
    "mavftp_client_are_files_identical_async": [_P, _S, _S, BOOL_CB, _P],
    "mavftp_transfer_options_init": [C.POINTER(CTransferOptions)],
    "mavftp_client_download_ex": [_P, _S, _S, C.POINTER(CTransferOptions), TRANSFER_CB, _P,
                                  C.POINTER(C.c_uint64)],
    "mavftp_client_upload_ex": [_P, _S, _S, C.POINTER(CTransferOptions), TRANSFER_CB, _P,
                                C.POINTER(C.c_uint64)],
    "mavftp_client_download_dir": [_P, _S, _S, C.POINTER(CTransferOptions), TRANSFER_CB, _P,
                                   C.POINTER(C.c_uint64)],
    "mavftp_client_upload_dir": [_P, _S, _S, C.POINTER(CTransferOptions), TRANSFER_CB, _P,
                                 C.POINTER(C.c_uint64)],
    "mavftp_client_download_to_memory": [_P, _S, C.POINTER(CTransferOptions), TRANSFER_CB,
                                         BUFFER_CB, _P, C.POINTER(C.c_uint64)],
}
_VOID_FUNCTIONS = {
    "mavftp_buffer_free": [C.POINTER(CBuffer)],
    "mavftp_link_free": [_P],
    "mavftp_server_free": [_P],
    "mavftp_client_free": [_P],
}


def _candidates() -> List[str]:
    override = os.environ.get(ENV_VAR)
    if override:
        return [override]
    here = Path(__file__).resolve().parent
    found = [str(here / name) for name in _BUNDLED_NAMES if (here / name).exists()]
    system = ctypes.util.find_library("mavftp")
    if system:
        found.append(system)
    return found


def _load() -> "tuple[C.CDLL, str]":
    candidates = _candidates()
    if not candidates:
        raise ImportError(
            "mavftp: no libmavftp found: the package holds no bundled copy (install it with "
            f"`pip install <path to the mavftp repository>`), {ENV_VAR} is not set and "
            "the system has no libmavftp"
        )
    errors = []
    for path in candidates:
        try:
            lib = C.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        try:
            _declare(lib)
        except AttributeError as e:
            errors.append(f"{path}: too old for this package ({e})")
            continue
        return lib, path
    source = f"{ENV_VAR}={os.environ[ENV_VAR]}" if os.environ.get(ENV_VAR) else "search"
    raise ImportError(f"mavftp: cannot load libmavftp ({source}): " + "; ".join(errors))


def _declare(lib: C.CDLL) -> None:
    for name, args in _RESULT_FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = C.c_int32
    for name, args in _VOID_FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = None
    lib.mavftp_result_str.argtypes = [C.c_int32]
    lib.mavftp_result_str.restype = C.c_char_p
    lib.mavftp_version.argtypes = []
    lib.mavftp_version.restype = C.c_char_p
    lib.mavftp_client_last_error.argtypes = [_P]
    lib.mavftp_client_last_error.restype = C.c_char_p
    lib.mavftp_last_error.argtypes = []
    lib.mavftp_last_error.restype = C.c_char_p


LIB, LIBRARY_PATH = _load()


def library_version() -> str:
    """Version of the loaded libmavftp, e.g. "0.1.0"."""
    return str(LIB.mavftp_version().decode("ascii", "replace"))


def result_text(code: int) -> str:
    """Static English text of a result code ("file does not exist")."""
    return str(LIB.mavftp_result_str(code).decode("utf-8", "replace"))


def last_error(client: Optional[int]) -> str:
    """The client's last failure detail ("" when none)."""
    text = LIB.mavftp_client_last_error(client)
    return str(text.decode("utf-8", "replace")) if text else ""


def thread_last_error() -> str:
    """This thread's last failure detail of a call without a client (link,
    server, client creation; "" when none)."""
    text = LIB.mavftp_last_error()
    return str(text.decode("utf-8", "replace")) if text else ""


def with_detail(text: str) -> str:
    """`text` followed by this thread's last failure detail, if any."""
    detail = thread_last_error()
    return f"{text} ({detail})" if detail else text


def keep_forever(obj: object) -> None:
    """Never free `obj`: a ctypes callback the library may call until the very
    end of the process must not be freed by module teardown."""
    try:
        C.pythonapi.Py_IncRef(C.py_object(obj))
    except (AttributeError, OSError):  # not CPython: keep a reference instead
        _immortal.append(obj)


_immortal: List[object] = []
