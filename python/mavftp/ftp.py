"""MAVLink FTP with the shape of MAVSDK-Python's ``mavsdk.ftp``.

The names, arguments, result values and exception of ``mavsdk.ftp`` are kept,
so code written for MAVSDK-Python runs after changing its import::

    from mavftp.ftp import Ftp, FtpError, FtpResult, ProgressData, ListDirectoryData

What MAVSDK-Python lacks is added the Python way: ``ListDirectoryData.entries``
(each entry with its size and modification time), :meth:`Ftp.cancel`, task
cancellation that cancels the transfer, :meth:`Ftp.set_timeout`, and the
library's own explanation of a failure in every :class:`FtpError`.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from enum import Enum
from typing import Any, AsyncIterator, Iterable, List, Optional, Tuple, Union

from . import _native as N
from ._engine import AsyncSink, Connection, NativeFailure, Operation, Outcome, RawListing, Sink

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "Ftp",
    "FtpError",
    "FtpResult",
    "ProgressData",
    "ListDirectoryData",
    "DirectoryEntry",
]


class ProgressData:
    """Progress of a transfer.

    Attributes:
        bytes_transferred: bytes moved so far.
        total_bytes: size of the file (0 while the server has not told it yet).
    """

    __slots__ = ("bytes_transferred", "total_bytes")

    def __init__(self, bytes_transferred: int, total_bytes: int) -> None:
        self.bytes_transferred = bytes_transferred
        self.total_bytes = total_bytes

    def __eq__(self, to_compare: object) -> bool:
        try:
            return bool(self.bytes_transferred == to_compare.bytes_transferred  # type: ignore[attr-defined]
                        and self.total_bytes == to_compare.total_bytes)  # type: ignore[attr-defined]
        except AttributeError:
            return False

    __hash__ = None  # type: ignore[assignment]  # mutable, like MAVSDK's

    def __str__(self) -> str:
        return (f"ProgressData: [bytes_transferred: {self.bytes_transferred}, "
                f"total_bytes: {self.total_bytes}]")

    def __repr__(self) -> str:
        return f"ProgressData(bytes_transferred={self.bytes_transferred}, total_bytes={self.total_bytes})"


class DirectoryEntry:
    """One entry of a remote directory (what MAVSDK-Python does not give).

    Attributes:
        name: the entry's name, without the directory.
        is_dir: True for a directory, False for a file.
        size_bytes: size of a file (0 for a directory).
        modification_time_s: seconds since the epoch; 0 when the server does not tell.
    """

    __slots__ = ("name", "is_dir", "size_bytes", "modification_time_s")

    def __init__(self, name: str, is_dir: bool, size_bytes: int, modification_time_s: int) -> None:
        self.name = name
        self.is_dir = is_dir
        self.size_bytes = size_bytes
        self.modification_time_s = modification_time_s

    @property
    def modification_time(self) -> Optional[datetime.datetime]:
        """The modification time as an aware UTC datetime, None when unknown."""
        if not self.modification_time_s:
            return None
        return datetime.datetime.fromtimestamp(self.modification_time_s, tz=datetime.timezone.utc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DirectoryEntry):
            return NotImplemented
        return (self.name, self.is_dir, self.size_bytes, self.modification_time_s) == (
            other.name, other.is_dir, other.size_bytes, other.modification_time_s)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"DirectoryEntry(name={self.name!r}, is_dir={self.is_dir}, "
                f"size_bytes={self.size_bytes}, modification_time_s={self.modification_time_s})")


class ListDirectoryData:
    """A remote directory's content, as in MAVSDK-Python.

    Attributes:
        dirs: names of the subdirectories, sorted.
        files: names of the files, sorted.
        entries: every entry with its size and modification time (an addition
            to MAVSDK-Python's type), sorted by name.
    """

    __slots__ = ("dirs", "files", "entries")

    def __init__(self, dirs: Iterable[str], files: Iterable[str],
                 entries: Optional[Iterable[DirectoryEntry]] = None) -> None:
        self.dirs: List[str] = list(dirs)
        self.files: List[str] = list(files)
        self.entries: List[DirectoryEntry] = list(entries or [])

    def __eq__(self, to_compare: object) -> bool:
        try:
            return bool(self.dirs == to_compare.dirs  # type: ignore[attr-defined]
                        and self.files == to_compare.files)  # type: ignore[attr-defined]
        except AttributeError:
            return False

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"ListDirectoryData: [dirs: {self.dirs}, files: {self.files}]"

    def __repr__(self) -> str:
        return f"ListDirectoryData(dirs={self.dirs!r}, files={self.files!r}, entries=<{len(self.entries)}>)"


class FtpResult:
    """Result of an FTP operation, as in MAVSDK-Python.

    Attributes:
        result: a :class:`FtpResult.Result`.
        result_str: human-readable English text: what the result means and,
            for a failure, the library's detail (which path, which NAK, which errno).
    """

    class Result(Enum):
        """Possible results; values 0-12 are exactly MAVSDK's, 13 is mavftp's."""

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

        def __str__(self) -> str:
            return self.name

    def __init__(self, result: "FtpResult.Result", result_str: str) -> None:
        self.result = result
        self.result_str = result_str

    def __eq__(self, to_compare: object) -> bool:
        try:
            return bool(self.result == to_compare.result  # type: ignore[attr-defined]
                        and self.result_str == to_compare.result_str)  # type: ignore[attr-defined]
        except AttributeError:
            return False

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"FtpResult: [result: {self.result}, result_str: {self.result_str}]"


def _result_of(code: int) -> FtpResult.Result:
    try:
        return FtpResult.Result(code)
    except ValueError:
        return FtpResult.Result.UNKNOWN


class FtpError(Exception):
    """Raised when an operation fails, as in MAVSDK-Python: ``_result`` is the
    :class:`FtpResult` (``e._result.result`` the :class:`FtpResult.Result`),
    ``_origin`` the call (``"download()"``) and ``_params`` its arguments."""

    def __init__(self, result: FtpResult, origin: str, *params: Any) -> None:
        super().__init__(result, origin, *params)
        self._result = result
        self._origin = origin
        self._params = params

    @property
    def result(self) -> FtpResult.Result:
        """Shorthand for ``self._result.result``."""
        return self._result.result

    def __str__(self) -> str:
        return f"{self._result.result}: '{self._result.result_str}'; origin: {self._origin}; params: {self._params}"


def make_error(code: int, detail: str, origin: str, params: Tuple[Any, ...]) -> FtpError:
    text = N.result_text(code)
    result_str = f"{text}: {detail}" if detail and detail != text else text
    return FtpError(FtpResult(_result_of(code), result_str), origin, *params)


def listing_from(raw: RawListing) -> ListDirectoryData:
    dirs, files, entries = raw
    return ListDirectoryData(
        dirs, files, [DirectoryEntry(name, kind == 2, size, mtime) for name, kind, size, mtime in entries])


# --- arguments ---------------------------------------------------------------


def _remote(path: Any, what: str) -> bytes:
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a str, not {type(path).__name__}")
    if "\0" in path:
        raise NativeFailure(N.INVALID_PARAMETER, f"{what} contains a NUL character")
    try:
        return path.encode("utf-8")
    except UnicodeEncodeError:
        raise NativeFailure(N.INVALID_PARAMETER, f"{what} is not valid UTF-8") from None


def _local(path: Any, what: str) -> bytes:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a str or a path, not {type(path).__name__}")
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise NativeFailure(N.INVALID_PARAMETER, f"{what} contains a NUL character")
    return raw


def _options(opts: Tuple[Any, ...]) -> Tuple[bool, bool, bool, Optional[bytes], bool]:
    """(use_burst, verify, resume, glob, skip_identical) for the C options struct."""
    use_burst, verify, resume, glob, skip_identical = opts
    raw = None if glob is None else _remote(glob, "glob")
    return bool(use_burst), bool(verify), bool(resume), raw, bool(skip_identical)


class FtpBase:
    """Argument checks and operation building shared by :class:`Ftp` and the
    synchronous :class:`mavftp.sync.Ftp`."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _operation(self, kind: str, params: Tuple[Any, ...], sink: Sink) -> Operation:
        """Encode ``params`` (the Python arguments) for the C call ``kind``.
        Raises NativeFailure(INVALID_PARAMETER) for a value no call could take."""
        if kind == "download":
            remote, local, burst = params
            args: Tuple[Any, ...] = (_remote(remote, "remote_file_path"), _local(local, "local_dir"), bool(burst))
        elif kind == "upload":
            local, remote = params
            args = (_local(local, "local_file_path"), _remote(remote, "remote_dir"))
        elif kind in ("list", "mkdir", "rmdir"):
            args = (_remote(params[0], "remote_dir"),)
        elif kind == "rm":
            args = (_remote(params[0], "remote_file_path"),)
        elif kind == "rename":
            args = (_remote(params[0], "remote_from_path"), _remote(params[1], "remote_to_path"))
        elif kind == "cmp":
            args = (_local(params[0], "local_file_path"), _remote(params[1], "remote_file_path"))
        elif kind in ("download_ex", "download_dir"):
            remote, local, opts = params
            what = "remote_file_path" if kind == "download_ex" else "remote_dir"
            args = (_remote(remote, what), _local(local, "local_dir"), _options(opts))
        elif kind in ("upload_ex", "upload_dir"):
            local, remote, opts = params
            what = "local_file_path" if kind == "upload_ex" else "local_dir"
            args = (_local(local, what), _remote(remote, "remote_dir"), _options(opts))
        elif kind == "download_mem":
            remote, opts = params
            args = (_remote(remote, "remote_file_path"), None, _options(opts))
        else:
            raise ValueError(kind)
        return Operation(kind, args, sink)

    def _setting(self, origin: str, params: Tuple[Any, ...], fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except NativeFailure as e:
            raise make_error(e.code, e.detail, origin, params) from None

    def _set_target_compid(self, compid: int) -> None:
        self._setting("set_target_compid()", (compid,), self._conn.set_target_compid, compid)

    def set_timeout(self, timeout_s: float, retries: int = 10) -> None:
        """Reply timeout per request in seconds (a base the library adapts to
        the measured round trip) and the retries before TIMEOUT (defaults
        0.5 s and 10). An addition to MAVSDK-Python's API."""
        params = (timeout_s, retries)
        if not 0 < timeout_s <= 3600 or not 0 <= retries <= 1000:
            raise make_error(N.INVALID_PARAMETER, f"timeout {timeout_s} s (0 < t <= 3600) or retries {retries} "
                             "(0..1000) out of range", "set_timeout()", params)
        ms = max(1, int(round(timeout_s * 1000)))
        self._setting("set_timeout()", params, self._conn.set_timeout, ms, retries)

    def set_window_caps(self, read: int = 0, write: int = 0) -> None:
        """Most ReadFile/WriteFile requests in flight (0 keeps the current cap;
        defaults 64 and 32). An addition to MAVSDK-Python's API."""
        self._setting("set_window_caps()", (read, write), self._conn.set_window_caps, read, write)

    def cancel(self) -> None:
        """End the running operation and every queued one of this Ftp: each
        raises :class:`FtpError` with ``FtpResult.Result.CANCELLED``, and a
        cancelled download leaves no file behind. An addition to MAVSDK-Python's API."""
        self._conn.cancel_all()


class _AsyncRun:
    """One submitted operation awaited from an event loop."""

    def __init__(self, conn: Connection, op: Operation, sink: AsyncSink, origin: str, params: Tuple[Any, ...]):
        self.conn = conn
        self.op = op
        self.sink = sink
        self.origin = origin
        self.params = params
        self.yielded: Optional[Tuple[int, int]] = None

    async def next_progress(self) -> Optional[ProgressData]:
        """The next progress to yield, None when the transfer succeeded; raises
        FtpError when it failed."""
        sink = self.sink
        while True:
            if sink.done.done():
                outcome = sink.done.result()
                if outcome.code != N.SUCCESS:
                    raise make_error(outcome.code, outcome.detail, self.origin, self.params)
                final = outcome.progress
                if final != self.yielded and final != (0, 0):
                    self.yielded = final
                    return ProgressData(*final)
                return None
            if sink.latest is not None and sink.latest != self.yielded:
                self.yielded = sink.latest
                return ProgressData(*sink.latest)
            sink.changed.clear()
            await sink.changed.wait()

    async def result(self) -> Outcome:
        try:
            return await asyncio.shield(self.sink.done)
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        """Cancel the operation if it has not ended, and wait until it has
        (a cancelled download's partial file is gone when this returns)."""
        if not self.sink.done.done():
            self.conn.cancel(self.op)
            await asyncio.shield(self.sink.done)


class Ftp(FtpBase):
    """Implements file transfer functionality using MAVLink FTP (the shape of
    MAVSDK-Python's ``Ftp`` plugin; get it as ``drone.ftp`` after
    ``await drone.connect(...)``).

    Operations may be awaited from several tasks at once; the library runs
    them one after the other in the order they were started. Cancelling the
    task that awaits an operation cancels that operation only (a download
    cancelled midway leaves no file behind). Failures raise :class:`FtpError`.
    """

    name = "Ftp"

    def _start(self, origin: str, kind: str, params: Tuple[Any, ...]) -> _AsyncRun:
        sink = AsyncSink(asyncio.get_running_loop())
        try:
            op = self._operation(kind, params, sink)
        except NativeFailure as e:
            raise make_error(e.code, e.detail, origin, params) from None
        self._conn.submit(op)
        return _AsyncRun(self._conn, op, sink, origin, params)

    async def _call(self, origin: str, kind: str, params: Tuple[Any, ...]) -> Any:
        run = self._start(origin, kind, params)
        outcome = await run.result()
        if outcome.code != N.SUCCESS:
            raise make_error(outcome.code, outcome.detail, origin, params)
        return outcome.value

    async def download(self, remote_file_path: str, local_dir: PathLike,
                       use_burst: bool = False) -> AsyncIterator[ProgressData]:
        """Download a file into a local directory (same file name).

        An async generator: iterate over it to run the download; it yields
        :class:`ProgressData` while bytes arrive and ends when the file is
        complete. The file is written under a temporary name and appears only
        when complete: a failed or cancelled download leaves nothing.

        Args:
            remote_file_path: the path of the remote file.
            local_dir: an existing local directory.
            use_burst: use burst reads (faster on most servers).

        Raises:
            FtpError: if the download fails.
        """
        run = self._start("download()", "download", (remote_file_path, local_dir, use_burst))
        try:
            while True:
                progress = await run.next_progress()
                if progress is None:
                    return
                yield progress
        finally:
            await run.close()

    async def upload(self, local_file_path: PathLike, remote_dir: str) -> AsyncIterator[ProgressData]:
        """Upload a local file into a remote directory (same file name).

        An async generator yielding :class:`ProgressData`, like :meth:`download`.

        Raises:
            FtpError: if the upload fails.
        """
        run = self._start("upload()", "upload", (local_file_path, remote_dir))
        try:
            while True:
                progress = await run.next_progress()
                if progress is None:
                    return
                yield progress
        finally:
            await run.close()

    async def _transfer(self, origin: str, kind: str, params: Tuple[Any, ...]) -> AsyncIterator[ProgressData]:
        run = self._start(origin, kind, params)
        try:
            while True:
                progress = await run.next_progress()
                if progress is None:
                    return
                yield progress
        finally:
            await run.close()

    # -- additions to MAVSDK-Python's API: the extended transfers --------------

    def download_ex(self, remote_file_path: str, local_dir: PathLike, use_burst: bool = False, *,
                    resume: bool = True, verify: bool = False) -> AsyncIterator[ProgressData]:
        """:meth:`download` with resume and verification (an async generator
        of :class:`ProgressData`, 64-bit counts).

        ``resume``: a failed, cancelled or killed download keeps its bytes in a
        hidden part file beside the destination (``.NAME.mavftp-resume`` and
        ``.NAME.mavftp-resume.meta``), and the next ``download_ex`` of the same
        file into the same place goes on from there when the remote file's
        size and listing time are unchanged (then checked by CRC32). With
        ``resume=False`` a failure leaves nothing, like :meth:`download`.
        ``verify``: compare the CRC32 of both ends afterwards; a mismatch
        downloads once more, then raises FILE_IO_ERROR.
        """
        return self._transfer("download_ex()", "download_ex",
                              (remote_file_path, local_dir, (use_burst, verify, resume, None, True)))

    def upload_ex(self, local_file_path: PathLike, remote_dir: str, *,
                  verify: bool = False) -> AsyncIterator[ProgressData]:
        """:meth:`upload`, optionally verified by CRC32 (a mismatch uploads once
        more, then raises FILE_IO_ERROR)."""
        return self._transfer("upload_ex()", "upload_ex",
                              (local_file_path, remote_dir, (False, verify, True, None, True)))

    def download_dir(self, remote_dir: str, local_dir: PathLike, use_burst: bool = False, *,
                     glob: Optional[str] = None, resume: bool = True, verify: bool = False,
                     skip_identical: bool = True) -> AsyncIterator[ProgressData]:
        """Download a remote directory recursively into an existing local one
        (an async generator of :class:`ProgressData` over all its files).

        ``glob`` keeps only matching files (``*``/``?`` within a path
        component, ``**`` across them; without ``/`` it matches file names).
        Files the local side has already (same size and CRC32) are skipped
        unless ``skip_identical`` is false, so a second run moves only what is
        new. A file that fails does not stop the others; afterwards
        :class:`FtpError` names every failed file.
        """
        return self._transfer("download_dir()", "download_dir",
                              (remote_dir, local_dir, (use_burst, verify, resume, glob, skip_identical)))

    def upload_dir(self, local_dir: PathLike, remote_dir: str, *, glob: Optional[str] = None,
                   verify: bool = False, skip_identical: bool = True) -> AsyncIterator[ProgressData]:
        """Upload a local directory recursively into an existing remote one,
        like :meth:`download_dir` the other way."""
        return self._transfer("upload_dir()", "upload_dir",
                              (local_dir, remote_dir, (False, verify, True, glob, skip_identical)))

    async def download_to_memory(self, remote_file_path: str, use_burst: bool = False, *,
                                 verify: bool = False) -> bytes:
        """Download a file into memory (``@PARAM/param.pck``, mission files)
        with the same loss handling as a download to a file."""
        value = await self._call("download_to_memory()", "download_mem",
                                 (remote_file_path, (use_burst, verify, True, None, True)))
        return bytes(value or b"")

    async def list_directory(self, remote_dir: str) -> ListDirectoryData:
        """List a remote directory: ``.dirs`` and ``.files`` (sorted names) and
        ``.entries`` (with sizes and times).

        Raises:
            FtpError: if the listing fails.
        """
        return listing_from(await self._call("list_directory()", "list", (remote_dir,)))

    async def create_directory(self, remote_dir: str) -> None:
        """Create a remote directory (its parent must exist).

        Raises:
            FtpError: if it fails (FILE_EXISTS when it already exists).
        """
        await self._call("create_directory()", "mkdir", (remote_dir,))

    async def remove_directory(self, remote_dir: str) -> None:
        """Remove an empty remote directory.

        Raises:
            FtpError: if it fails.
        """
        await self._call("remove_directory()", "rmdir", (remote_dir,))

    async def remove_file(self, remote_file_path: str) -> None:
        """Remove a remote file.

        Raises:
            FtpError: if it fails.
        """
        await self._call("remove_file()", "rm", (remote_file_path,))

    async def rename(self, remote_from_path: str, remote_to_path: str) -> None:
        """Rename a remote file or directory.

        Raises:
            FtpError: if it fails.
        """
        await self._call("rename()", "rename", (remote_from_path, remote_to_path))

    async def are_files_identical(self, local_file_path: PathLike, remote_file_path: str) -> bool:
        """Compare a local file with a remote one by their MAVLink CRC32.

        Raises:
            FtpError: if the comparison cannot be made.
        """
        return bool(await self._call("are_files_identical()", "cmp", (local_file_path, remote_file_path)))

    async def set_target_compid(self, compid: int) -> None:
        """Address another component of the target system (default: the
        autopilot, 1) from the next operation on.

        Raises:
            FtpError: INVALID_PARAMETER above 255.
        """
        self._set_target_compid(compid)
