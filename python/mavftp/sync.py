"""A synchronous facade for scripts: the same names as the async API, plain
calls that return when the operation has ended, progress through an optional
callable::

    from mavftp.sync import System

    drone = System()
    drone.connect(system_address="udpout://192.168.1.10:14540", timeout=10)
    print(drone.ftp.list_directory("/").files)
    drone.ftp.download("/log/log1.ulg", ".", use_burst=True,
                       progress=lambda p: print(p.bytes_transferred, "/", p.total_bytes))

Blocking calls may be made from several threads; the library runs them one
after the other. Progress callables run in the calling thread. Ctrl-C (or an
exception raised by a progress callable) cancels the transfer, waits until
the library has ended it (no partial file left) and propagates.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple

from . import _native as N
from ._engine import Connection, NativeFailure, ThreadSink
from .ftp import FtpBase, FtpError, ListDirectoryData, PathLike, ProgressData, listing_from, make_error
from .system import open_connection

__all__ = ["System", "Ftp", "FtpError", "ProgressData", "ListDirectoryData"]

ProgressCallback = Callable[[ProgressData], Any]


class Ftp(FtpBase):
    """Blocking counterpart of :class:`mavftp.ftp.Ftp` (``drone.ftp`` of a
    :class:`mavftp.sync.System`). Failures raise :class:`FtpError`."""

    name = "Ftp"

    def _run(self, origin: str, kind: str, params: Tuple[Any, ...],
             progress: Optional[ProgressCallback] = None) -> Any:
        sink = ThreadSink()
        try:
            op = self._operation(kind, params, sink)
        except NativeFailure as e:
            raise make_error(e.code, e.detail, origin, params) from None
        self._conn.submit(op)
        forward = None if progress is None else (lambda p: progress(ProgressData(*p)))
        outcome = sink.wait(self._conn, op, forward)
        if outcome.code != N.SUCCESS:
            raise make_error(outcome.code, outcome.detail, origin, params)
        return outcome.value

    def download(self, remote_file_path: str, local_dir: PathLike, use_burst: bool = False,
                 progress: Optional[ProgressCallback] = None) -> None:
        """Download a file into an existing local directory (same name); the
        file appears only when complete. ``progress`` gets :class:`ProgressData`."""
        self._run("download()", "download", (remote_file_path, local_dir, use_burst), progress)

    def upload(self, local_file_path: PathLike, remote_dir: str,
               progress: Optional[ProgressCallback] = None) -> None:
        """Upload a local file into a remote directory (same name)."""
        self._run("upload()", "upload", (local_file_path, remote_dir), progress)

    # -- additions to MAVSDK-Python's API: the extended transfers (see mavftp.ftp.Ftp)

    def download_ex(self, remote_file_path: str, local_dir: PathLike, use_burst: bool = False, *,
                    resume: bool = True, verify: bool = False,
                    progress: Optional[ProgressCallback] = None) -> None:
        """:meth:`download` with resume (on by default) and CRC32 verification."""
        self._run("download_ex()", "download_ex",
                  (remote_file_path, local_dir, (use_burst, verify, resume, None, True)), progress)

    def upload_ex(self, local_file_path: PathLike, remote_dir: str, *, verify: bool = False,
                  progress: Optional[ProgressCallback] = None) -> None:
        """:meth:`upload`, optionally verified by CRC32."""
        self._run("upload_ex()", "upload_ex",
                  (local_file_path, remote_dir, (False, verify, True, None, True)), progress)

    def download_dir(self, remote_dir: str, local_dir: PathLike, use_burst: bool = False, *,
                     glob: Optional[str] = None, resume: bool = True, verify: bool = False,
                     skip_identical: bool = True, progress: Optional[ProgressCallback] = None) -> None:
        """Download a remote directory recursively (identical files skipped);
        raises :class:`FtpError` naming every file that failed."""
        self._run("download_dir()", "download_dir",
                  (remote_dir, local_dir, (use_burst, verify, resume, glob, skip_identical)), progress)

    def upload_dir(self, local_dir: PathLike, remote_dir: str, *, glob: Optional[str] = None,
                   verify: bool = False, skip_identical: bool = True,
                   progress: Optional[ProgressCallback] = None) -> None:
        """Upload a local directory recursively (identical files skipped)."""
        self._run("upload_dir()", "upload_dir",
                  (local_dir, remote_dir, (False, verify, True, glob, skip_identical)), progress)

    def download_to_memory(self, remote_file_path: str, use_burst: bool = False, *,
                           verify: bool = False) -> bytes:
        """Download a file into memory."""
        value = self._run("download_to_memory()", "download_mem",
                          (remote_file_path, (use_burst, verify, True, None, True)))
        return bytes(value or b"")

    def list_directory(self, remote_dir: str) -> ListDirectoryData:
        """List a remote directory (``.dirs``, ``.files``, ``.entries``)."""
        return listing_from(self._run("list_directory()", "list", (remote_dir,)))

    def create_directory(self, remote_dir: str) -> None:
        """Create a remote directory (FILE_EXISTS when it exists)."""
        self._run("create_directory()", "mkdir", (remote_dir,))

    def remove_directory(self, remote_dir: str) -> None:
        """Remove an empty remote directory."""
        self._run("remove_directory()", "rmdir", (remote_dir,))

    def remove_file(self, remote_file_path: str) -> None:
        """Remove a remote file."""
        self._run("remove_file()", "rm", (remote_file_path,))

    def rename(self, remote_from_path: str, remote_to_path: str) -> None:
        """Rename a remote file or directory."""
        self._run("rename()", "rename", (remote_from_path, remote_to_path))

    def are_files_identical(self, local_file_path: PathLike, remote_file_path: str) -> bool:
        """Compare a local and a remote file by their MAVLink CRC32."""
        return bool(self._run("are_files_identical()", "cmp", (local_file_path, remote_file_path)))

    def set_target_compid(self, compid: int) -> None:
        """Address another component of the target system from the next operation on."""
        self._set_target_compid(compid)


class System:
    """Blocking counterpart of :class:`mavftp.System` (same arguments)."""

    def __init__(self, mavsdk_server_address: Optional[str] = None, port: int = 50051,
                 sysid: int = 245, compid: int = 190) -> None:
        del mavsdk_server_address, port
        self._sysid = sysid
        self._compid = compid
        self._conn: Optional[Connection] = None
        self._ftp: Optional[Ftp] = None

    def connect(self, system_address: Optional[str] = None, *, target_system: int = 0,
                target_component: int = 1, timeout: Optional[float] = None) -> None:
        """Open the connection (see :meth:`mavftp.System.connect`). With a
        ``timeout`` (seconds), also wait until the vehicle is heard.

        Raises:
            FtpError: for a bad address, or NO_SYSTEM when ``timeout`` passed
                without hearing the vehicle.
        """
        self.close()
        self._conn = open_connection(system_address, self._sysid, self._compid, target_system, target_component)
        self._ftp = Ftp(self._conn)
        if timeout is not None:
            self.wait_for_connection(timeout)

    @property
    def is_connected(self) -> bool:
        """True while the vehicle was heard in the last 3 s."""
        return self._conn is not None and self._conn.is_connected()

    def wait_for_connection(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds until the vehicle is heard.

        Raises:
            FtpError: NO_SYSTEM when it was not heard in time.
        """
        deadline = time.monotonic() + timeout
        while not self.is_connected:
            if time.monotonic() >= deadline:
                url = self._conn.url if self._conn is not None else None
                raise make_error(N.NO_SYSTEM, f"no vehicle heard within {timeout:g} s",
                                 "wait_for_connection()", (url,))
            time.sleep(0.05)

    @property
    def ftp(self) -> Ftp:
        """The FTP plugin (after ``connect``)."""
        if self._ftp is None:
            raise RuntimeError("Ftp plugin has not been initialized! Did you run `System.connect()`?")
        return self._ftp

    def close(self) -> None:
        """Close the connection (operations still running end with CANCELLED)."""
        conn, self._conn, self._ftp = self._conn, None, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "System":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
