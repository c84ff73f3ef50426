"""The bridge between libmavftp's worker threads and Python.

A ``Connection`` owns one ``mavftp_link`` and one ``mavftp_client``. It runs the
operations given to it one at a time, in submission order: only one is ever
inside the library, so cancelling it (``mavftp_client_cancel`` ends whatever the
client is doing) never touches another, and an operation still waiting here is
simply dropped.

Results reach Python through four ctypes trampolines created once and never
freed, so the library can never call freed memory; which operation a call
belongs to travels in ``user_data`` as a plain number. A *sink* receives the
progress and the final outcome on the library's worker thread and hands them
to an event loop (``AsyncSink``) or a waiting thread (``ThreadSink``): user
code never runs on a library thread.

A connection or server is freed when it is closed or garbage-collected, and
every one still live at interpreter exit by an ``atexit`` hook registered at
import (``_close_all_at_exit``), which runs *before* the interpreter starts
tearing itself down and also waits for frees that began on other threads:
``mavftp_client_free`` ends a transfer still in flight (CANCELLED, partial file
removed) and returns only after its last callback, so no library thread calls
into a dying interpreter.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes as C
import itertools
import os
import threading
import traceback
import weakref
from collections import deque
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple

from . import _native as N
from ._native import LIB


class NativeFailure(Exception):
    """A libmavftp call failed: ``code`` is a mavftp_result, ``detail`` its text."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class Outcome(NamedTuple):
    """Final outcome of one operation."""

    code: int
    value: Any
    detail: str
    progress: Tuple[int, int]


# (name, type, size_bytes, modification_time_s) as the library reports them.
RawEntry = Tuple[str, int, int, int]
RawListing = Tuple[List[str], List[str], List[RawEntry]]


class Operation:
    """One FTP operation: its kind, encoded arguments and where results go."""

    __slots__ = ("kind", "args", "sink", "conn", "id", "last_progress")

    def __init__(self, kind: str, args: Tuple[Any, ...], sink: "Sink") -> None:
        self.kind = kind
        self.args = args
        self.sink = sink
        self.conn: Optional[Connection] = None
        self.id = 0
        self.last_progress: Tuple[int, int] = (0, 0)

    def start(self, client: int) -> int:
        """Hand the operation to the library (the `_async` C function)."""
        user = C.c_void_p(self.id)
        a = self.args
        if self.kind == "download":
            code = LIB.mavftp_client_download_async(client, a[0], a[1], a[2], _on_progress, user)
        elif self.kind == "upload":
            code = LIB.mavftp_client_upload_async(client, a[0], a[1], _on_progress, user)
        elif self.kind == "list":
            code = LIB.mavftp_client_list_directory_async(client, a[0], _on_list, user)
        elif self.kind == "mkdir":
            code = LIB.mavftp_client_create_directory_async(client, a[0], _on_result, user)
        elif self.kind == "rmdir":
            code = LIB.mavftp_client_remove_directory_async(client, a[0], _on_result, user)
        elif self.kind == "rm":
            code = LIB.mavftp_client_remove_file_async(client, a[0], _on_result, user)
        elif self.kind == "rename":
            code = LIB.mavftp_client_rename_async(client, a[0], a[1], _on_result, user)
        elif self.kind == "cmp":
            code = LIB.mavftp_client_are_files_identical_async(client, a[0], a[1], _on_bool, user)
        elif self.kind in _EXTENDED:
            # a: (path, path or None, options): the options live for the call only.
            opts = N.CTransferOptions()
            LIB.mavftp_transfer_options_init(C.byref(opts))
            use_burst, verify, resume, glob, skip_identical = a[2]
            opts.use_burst, opts.verify = use_burst, verify
            opts.no_resume, opts.transfer_identical = not resume, not skip_identical
            opts.glob = glob
            op_id = C.c_uint64()
            if self.kind == "download_mem":
                code = LIB.mavftp_client_download_to_memory(
                    client, a[0], C.byref(opts), _on_transfer, _on_buffer, user, C.byref(op_id))
            else:
                fn = _EXTENDED[self.kind]
                code = fn(client, a[0], a[1], C.byref(opts), _on_transfer, user, C.byref(op_id))
        else:
            raise ValueError(f"unknown operation kind {self.kind!r}")
        return int(code)


class Sink:
    """Receives an operation's progress and outcome (on a library thread)."""

    def progress(self, transferred: int, total: int) -> None:
        raise NotImplementedError

    def finish(self, outcome: Outcome) -> None:
        raise NotImplementedError


class AsyncSink(Sink):
    """Hands results to an asyncio event loop with ``call_soon_threadsafe``.
    Create it in the loop's thread; read ``latest``/``done`` there."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.done: "asyncio.Future[Outcome]" = loop.create_future()
        self.latest: Optional[Tuple[int, int]] = None
        self.changed = asyncio.Event()

    def progress(self, transferred: int, total: int) -> None:
        self._post(self._set_progress, (transferred, total))

    def finish(self, outcome: Outcome) -> None:
        self._post(self._set_done, outcome)

    def _post(self, fn: Callable[..., None], arg: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, arg)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def _set_progress(self, value: Tuple[int, int]) -> None:
        self.latest = value
        self.changed.set()

    def _set_done(self, outcome: Outcome) -> None:
        if not self.done.done():
            self.done.set_result(outcome)
        self.changed.set()


class ThreadSink(Sink):
    """Hands results to the thread that waits in ``wait``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: Optional[Tuple[int, int]] = None
        self._fresh = False
        self._outcome: Optional[Outcome] = None

    def progress(self, transferred: int, total: int) -> None:
        with self._cond:
            self._latest = (transferred, total)
            self._fresh = True
            self._cond.notify_all()

    def finish(self, outcome: Outcome) -> None:
        with self._cond:
            self._outcome = outcome
            self._cond.notify_all()

    def wait(
        self,
        conn: "Connection",
        op: Operation,
        on_progress: Optional[Callable[[Tuple[int, int]], None]] = None,
    ) -> Outcome:
        """Wait for the outcome, calling ``on_progress`` in this thread. Any
        exception here (Ctrl-C, or one raised by ``on_progress``) cancels the
        operation, waits until the library has ended it, and propagates."""
        reported: Optional[Tuple[int, int]] = None
        try:
            while True:
                with self._cond:
                    while self._outcome is None and not self._fresh:
                        self._cond.wait(0.25)
                    self._fresh = False
                    latest, outcome = self._latest, self._outcome
                if outcome is not None and outcome.code == N.SUCCESS and outcome.progress != (0, 0):
                    latest = outcome.progress  # the final count, whether or not a NEXT said it
                if on_progress is not None and latest is not None and latest != reported:
                    reported = latest
                    on_progress(latest)
                if outcome is not None:
                    return outcome
        except BaseException:
            conn.cancel(op)
            self._wait_ended(30.0)
            raise

    def _wait_ended(self, limit: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._outcome is not None, limit)


# --- the trampolines -------------------------------------------------------

_registry: Dict[int, Operation] = {}
_registry_lock = threading.Lock()
_ids = itertools.count(1)
_local = threading.local()


def in_library_callback() -> bool:
    """True on a library thread while it runs one of our callbacks."""
    return getattr(_local, "depth", 0) > 0


def _lookup(user: Optional[int], final: bool) -> Optional[Operation]:
    if not user:
        return None
    with _registry_lock:
        return _registry.pop(user, None) if final else _registry.get(user)


def _run_callback(body: Callable[[], None]) -> None:
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        body()
    except BaseException:  # a bug of ours: say so, never unwind into the library
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        _local.depth -= 1


def _progress_callback(code: int, progress: N.CProgress, user: Optional[int]) -> None:
    def body() -> None:
        value = (int(progress.bytes_transferred), int(progress.total_bytes))
        op = _lookup(user, final=code != N.NEXT)
        if op is None:
            return
        op.last_progress = value
        if code == N.NEXT:
            op.sink.progress(*value)
        elif op.conn is not None:
            op.conn._finished(op, code, None)

    _run_callback(body)


def _result_callback(code: int, user: Optional[int]) -> None:
    def body() -> None:
        op = _lookup(user, final=True)
        if op is not None and op.conn is not None:
            op.conn._finished(op, code, None)

    _run_callback(body)


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "surrogateescape") if raw else ""


def copy_listing(lst: N.CList) -> RawListing:
    """Copy a mavftp_list into Python objects (it lives only during the call)."""
    dirs = [_text(lst.dirs[i]) for i in range(lst.dirs_len)]
    files = [_text(lst.files[i]) for i in range(lst.files_len)]
    entries = [
        (
            _text(lst.entries[i].name),
            int(lst.entries[i].type),
            int(lst.entries[i].size_bytes),
            int(lst.entries[i].modification_time_s),
        )
        for i in range(lst.entries_len)
    ]
    return dirs, files, entries


def _list_callback(code: int, lst: Any, user: Optional[int]) -> None:
    def body() -> None:
        op = _lookup(user, final=True)
        if op is None or op.conn is None:
            return
        value = copy_listing(lst.contents) if code == N.SUCCESS and lst else None
        op.conn._finished(op, code, value)

    _run_callback(body)


def _bool_callback(code: int, same: bool, user: Optional[int]) -> None:
    def body() -> None:
        op = _lookup(user, final=True)
        if op is not None and op.conn is not None:
            op.conn._finished(op, code, bool(same))

    _run_callback(body)


def _transfer_callback(code: int, progress: Any, user: Optional[int]) -> None:
    def body() -> None:
        p = progress.contents if progress else None
        value = (int(p.bytes_transferred), int(p.total_bytes)) if p is not None else (0, 0)
        # A download to memory ends in its buffer callback.
        op = _lookup(user, final=False)
        if op is None:
            return
        op.last_progress = value
        if code == N.NEXT:
            op.sink.progress(*value)
            return
        if op.kind == "download_mem":
            return
        op = _lookup(user, final=True)
        if op is not None and op.conn is not None:
            files = (int(p.file_count), int(p.files_failed), int(p.files_skipped)) if p is not None else None
            op.conn._finished(op, code, files)

    _run_callback(body)


def _buffer_callback(code: int, buffer: Any, user: Optional[int]) -> None:
    def body() -> None:
        data = None
        if buffer:
            b = buffer.contents
            data = C.string_at(b.data, b.len) if b.len else b""
        LIB.mavftp_buffer_free(buffer)  # ours now, whatever happens below
        op = _lookup(user, final=True)
        if op is not None and op.conn is not None:
            op.conn._finished(op, code, data)

    _run_callback(body)


_on_progress = N.PROGRESS_CB(_progress_callback)
_on_result = N.RESULT_CB(_result_callback)
_on_list = N.LIST_CB(_list_callback)
_on_bool = N.BOOL_CB(_bool_callback)
_on_transfer = N.TRANSFER_CB(_transfer_callback)
_on_buffer = N.BUFFER_CB(_buffer_callback)
for _trampoline in (_on_progress, _on_result, _on_list, _on_bool, _on_transfer, _on_buffer):
    N.keep_forever(_trampoline)

# Operation kinds run by the extended C calls (mavftp_transfer_options).
_EXTENDED = {
    "download_ex": LIB.mavftp_client_download_ex,
    "upload_ex": LIB.mavftp_client_upload_ex,
    "download_dir": LIB.mavftp_client_download_dir,
    "upload_dir": LIB.mavftp_client_upload_dir,
    "download_mem": None,
}


# --- handles ---------------------------------------------------------------


def check_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 255:
        raise NativeFailure(N.INVALID_PARAMETER, f"{what} {value} is outside 0..255")
    return value


def encode_url(url: str) -> bytes:
    if not isinstance(url, str):
        raise TypeError(f"system_address must be a str, not {type(url).__name__}")
    if "\0" in url:
        raise NativeFailure(N.INVALID_PARAMETER, "system_address contains a NUL character")
    return url.encode("utf-8", "surrogateescape")


def open_link(url: str, own_system_id: int, own_component_id: int) -> int:
    raw = encode_url(url)
    link = C.c_void_p()
    code = LIB.mavftp_link_open(
        raw,
        check_id(own_system_id, "own system id"),
        check_id(own_component_id, "own component id"),
        C.byref(link),
    )
    if code != N.SUCCESS or not link.value:
        why = {
            N.INVALID_PARAMETER: "not a valid connection URL (udpin://HOST:PORT, udpout://HOST:PORT, "
            "tcpin://HOST:PORT, tcpout://HOST:PORT, serial:///dev/ttyX:BAUD)",
            N.FILE_IO_ERROR: "the socket or port cannot be opened",
        }.get(code, N.result_text(code))
        raise NativeFailure(code, N.with_detail(f"{url}: {why}"))
    return int(link.value)


class _Handles:
    """The native handles of one Connection or NativeServer and their free,
    run exactly once: by ``close()``, by the owner's weakref finalizer (this
    object must not hold the owner), or by ``_close_all_at_exit``. While not
    yet freed it is listed in ``_live``; from the start of its free until the
    free has returned it is counted in ``_frees_running``."""

    __slots__ = ("_free", "_order", "_owner", "started")

    def __init__(self, free: Callable[[], None], order: int) -> None:
        self._free = free
        self._order = order  # clients (0) are freed before servers (1) at exit
        self._owner: Optional["weakref.ReferenceType[Any]"] = None
        self.started = False

    def register(self, owner: Any) -> None:
        """List the handles as live; refused (handles freed, CANCELLED) once
        the interpreter exits."""
        with _live_lock:
            if not _exiting:
                self._owner = weakref.ref(owner)
                _live[id(self)] = self
                return
        self()
        raise NativeFailure(N.CANCELLED, "the interpreter is exiting")

    def __call__(self) -> None:
        global _frees_running
        with _live_lock:
            if self.started:
                return
            self.started = True
            _live.pop(id(self), None)
            _frees_running += 1

        def free() -> None:
            global _frees_running
            try:
                self._free()
            finally:
                with _live_lock:
                    _frees_running -= 1
                    _live_lock.notify_all()

        _free_off_callback(free)


def _free_off_callback(free: Callable[[], None]) -> None:
    # A client must not be freed from its own callback (the free waits for the
    # worker that runs it): if the last reference dies there, free elsewhere
    # (waited for at exit, see _close_all_at_exit).
    if in_library_callback():
        threading.Thread(target=free, name="mavftp-free").start()
    else:
        free()


# Handles not yet freed (id -> _Handles), frees begun and not yet returned,
# and whether the interpreter exits (no new handles then).
_live_lock = threading.Condition()
_live: Dict[int, _Handles] = {}
_frees_running = 0
_exiting = False


def _close_all_at_exit() -> None:
    """At interpreter exit, before CPython tears itself down: close every
    live connection and server and wait until every free has returned.

    Once the interpreter finalizes, CPython (3.13 and older) ends any thread
    that tries to enter Python with ``pthread_exit``; on a library worker
    thread that is inside a callback, that forced unwind meets Rust frames
    and the process aborts ("FATAL: exception not rethrown"). A free waits
    for its client's last callback, so after this no library thread is in,
    or will enter, one of our callbacks. Frees started on "mavftp-free"
    threads (the last reference died inside a callback) are waited for too:
    weakref.finalize's own exit hook would not wait for them."""
    global _exiting
    with _live_lock:
        _exiting = True
    while True:
        with _live_lock:
            pending = sorted(_live.values(), key=lambda h: h._order)
            if not pending:
                _live_lock.wait_for(lambda: _frees_running == 0)
                if not _live:
                    return
                continue
        for handles in pending:
            owner = handles._owner() if handles._owner is not None else None
            try:
                if owner is not None:
                    owner.close()  # marks it closed under its lock, then frees
            except Exception:
                traceback.print_exc()
            handles()  # nothing if close() did it


atexit.register(_close_all_at_exit)


def _free_client_and_link(client: int, link: int) -> Callable[[], None]:
    def free() -> None:
        LIB.mavftp_client_free(client)
        LIB.mavftp_link_free(link)

    return free


def _free_server_and_link(server: int, link: int) -> Callable[[], None]:
    def free() -> None:
        LIB.mavftp_server_free(server)
        LIB.mavftp_link_free(link)

    return free


class Connection:
    """A link and a client of one target on it, with an operation queue."""

    def __init__(
        self,
        url: str,
        own_system_id: int,
        own_component_id: int,
        target_system: int,
        target_component: int,
    ) -> None:
        self.url = url
        self.target_system = check_id(target_system, "target system id")
        self.target_component = check_id(target_component, "target component id") or 1
        link = open_link(url, own_system_id, own_component_id)
        client = C.c_void_p()
        code = LIB.mavftp_client_new(link, self.target_system, self.target_component, C.byref(client))
        if code != N.SUCCESS or not client.value:
            LIB.mavftp_link_free(link)
            raise NativeFailure(code, N.with_detail(f"cannot create a client on {url}: {N.result_text(code)}"))
        self._link: Optional[int] = link
        self._client: Optional[int] = int(client.value)
        self._lock = threading.Lock()
        self._queue: Deque[Operation] = deque()
        self._running: Optional[Operation] = None
        self._closed = False
        self._handles = _Handles(_free_client_and_link(self._client, link), 0)
        self._handles.register(self)
        # Freed when garbage-collected; at exit _close_all_at_exit does it.
        self._finalizer = weakref.finalize(self, self._handles)
        self._finalizer.atexit = False

    # -- settings ------------------------------------------------------------

    def _call_setting(self, fn: Callable[..., int], *args: Any) -> None:
        with self._lock:
            if self._closed:
                raise NativeFailure(N.CANCELLED, "the connection is closed")
            code = fn(self._client, *args)
            detail = N.last_error(self._client) if code != N.SUCCESS else ""
        if code != N.SUCCESS:
            raise NativeFailure(code, detail)

    def set_target_compid(self, compid: int) -> None:
        if isinstance(compid, bool) or not isinstance(compid, int):
            raise TypeError(f"compid must be an int, not {type(compid).__name__}")
        if not 0 <= compid <= 0xFFFFFFFF:
            raise NativeFailure(N.INVALID_PARAMETER, f"component id {compid} is outside 0..255")
        self._call_setting(LIB.mavftp_client_set_target_compid, compid)
        self.target_component = compid or 1

    def set_timeout(self, timeout_ms: int, retries: int) -> None:
        self._call_setting(LIB.mavftp_client_set_timeout, timeout_ms, retries)

    def set_window_caps(self, read: int, write: int) -> None:
        self._call_setting(LIB.mavftp_client_set_window_caps, read, write)

    # -- who is there --------------------------------------------------------

    def target(self) -> Optional[Tuple[int, int]]:
        """The (system, component) addressed, once known (system 0 = first heard)."""
        with self._lock:
            if self._closed or self._link is None:
                return None
            system = self.target_system
            if system == 0:
                out = C.c_uint8()
                if LIB.mavftp_link_first_heard_system(self._link, C.byref(out)) != N.SUCCESS:
                    return None
                system = out.value
            return system, self.target_component

    def last_heard_ms(self, system: int, component: int) -> Optional[int]:
        """Milliseconds since (system, component) was last heard, or None."""
        with self._lock:
            if self._closed or self._link is None:
                return None
            out = C.c_uint64()
            if LIB.mavftp_link_last_heard(self._link, system, component, C.byref(out)) != N.SUCCESS:
                return None
            return int(out.value)

    def is_connected(self, within_ms: int = 3000) -> bool:
        """The target was heard in the last ``within_ms`` (it heartbeats at 1 Hz)."""
        target = self.target()
        if target is None:
            return False
        ms = self.last_heard_ms(*target)
        return ms is not None and ms < within_ms

    # -- operations ----------------------------------------------------------

    def submit(self, op: Operation) -> None:
        """Queue an operation; its sink gets exactly one outcome."""
        op.conn = self
        refused: List[Tuple[Operation, Outcome]] = []
        with self._lock:
            if self._closed:
                refused.append((op, Outcome(N.CANCELLED, None, "the connection is closed", (0, 0))))
            else:
                self._queue.append(op)
                if self._running is None:
                    refused = self._start_next_locked()
        for failed, outcome in refused:
            failed.sink.finish(outcome)

    def _start_next_locked(self) -> List[Tuple[Operation, Outcome]]:
        refused = []
        while self._queue and self._running is None:
            op = self._queue.popleft()
            op.id = next(_ids)
            with _registry_lock:
                _registry[op.id] = op
            self._running = op
            assert self._client is not None  # only None once closed
            code = op.start(self._client)
            if code != N.SUCCESS:
                with _registry_lock:
                    _registry.pop(op.id, None)
                self._running = None
                refused.append((op, Outcome(code, None, N.last_error(self._client), op.last_progress)))
        return refused

    def _finished(self, op: Operation, code: int, value: Any) -> None:
        """Final callback of the running operation (on the worker thread)."""
        refused: List[Tuple[Operation, Outcome]] = []
        with self._lock:
            # Read the detail before the next operation can overwrite it (not
            # while the client is being freed: then it is ours to tell).
            if code == N.SUCCESS:
                detail = ""
            elif self._handles.started or self._client is None:
                detail = "the connection was closed with the operation in flight"
            else:
                detail = N.last_error(self._client)
            if self._running is op:
                self._running = None
            if not self._closed:
                refused = self._start_next_locked()
        op.sink.finish(Outcome(code, value, detail, op.last_progress))
        for failed, outcome in refused:
            failed.sink.finish(outcome)

    def cancel(self, op: Operation) -> None:
        """Cancel one operation: dropped if still queued here, ended by the
        library (CANCELLED) if running; nothing if it already ended."""
        with self._lock:
            if op in self._queue:
                self._queue.remove(op)
            else:
                if op is self._running and self._client is not None:
                    LIB.mavftp_client_cancel(self._client)
                return
        op.sink.finish(Outcome(N.CANCELLED, None, "cancelled before it started", (0, 0)))

    def cancel_all(self) -> None:
        """Cancel the running operation and every queued one."""
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            if self._running is not None and self._client is not None:
                LIB.mavftp_client_cancel(self._client)
        for op in queued:
            op.sink.finish(Outcome(N.CANCELLED, None, "cancelled before it started", (0, 0)))

    def close(self) -> None:
        """End everything (CANCELLED) and free the client and the link."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
        for op in queued:
            op.sink.finish(Outcome(N.CANCELLED, None, "the connection is closed", (0, 0)))
        # Outside the lock: the running operation's last callback needs it.
        self._finalizer.detach()
        self._handles()
        with self._lock:
            self._client = None
            self._link = None

    @property
    def closed(self) -> bool:
        return self._closed


class NativeServer:
    """A link and a server on it."""

    def __init__(self, url: str, root_dir: "os.PathLike[str] | str", own_system_id: int, own_component_id: int) -> None:
        root = os.fsencode(root_dir)
        if b"\0" in root:
            raise NativeFailure(N.INVALID_PARAMETER, "root_dir contains a NUL character")
        link = open_link(url, own_system_id, own_component_id)
        server = C.c_void_p()
        code = LIB.mavftp_server_new(link, root, C.byref(server))
        if code != N.SUCCESS or not server.value:
            LIB.mavftp_link_free(link)
            why = "not an existing directory" if code == N.FILE_DOES_NOT_EXIST else N.result_text(code)
            raise NativeFailure(code, N.with_detail(f"root_dir {os.fsdecode(root)}: {why}"))
        self._lock = threading.Lock()
        self._server: Optional[int] = int(server.value)
        self._handles = _Handles(_free_server_and_link(self._server, link), 1)
        self._handles.register(self)
        self._finalizer = weakref.finalize(self, self._handles)
        self._finalizer.atexit = False

    def set_read_only(self, read_only: bool) -> None:
        self._call(LIB.mavftp_server_set_read_only, bool(read_only))

    def set_link_rate(self, bytes_per_second: int) -> None:
        if isinstance(bytes_per_second, bool) or not isinstance(bytes_per_second, int):
            raise TypeError("bytes_per_second must be an int")
        if not 0 <= bytes_per_second <= 0xFFFFFFFF:
            raise NativeFailure(N.INVALID_PARAMETER, f"link rate {bytes_per_second} is outside 0..2^32-1")
        self._call(LIB.mavftp_server_set_link_rate, bytes_per_second)

    def _call(self, fn: Callable[..., int], *args: Any) -> None:
        with self._lock:
            if self._server is None:
                raise NativeFailure(N.CANCELLED, "the server is closed")
            code = fn(self._server, *args)
        if code != N.SUCCESS:
            raise NativeFailure(code, N.with_detail(N.result_text(code)))

    def close(self) -> None:
        with self._lock:
            self._server = None
        self._finalizer.detach()
        self._handles()

    @property
    def closed(self) -> bool:
        return self._server is None
