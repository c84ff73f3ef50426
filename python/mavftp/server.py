"""The vehicle side: serve a local directory over MAVLink FTP."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from ._engine import NativeFailure, NativeServer
from .ftp import make_error

__all__ = ["Server"]


class Server:
    """Serves ``root_dir`` (a jail: nothing outside it is reachable) to every
    MAVLink FTP client that reaches ``system_address``, in background threads
    of the library; it needs no event loop. Our server answers requests
    addressed to (``sysid``, ``compid``) or to component 0, and heartbeats as
    that component at 1 Hz (component 1 looks like an autopilot, so
    MAVSDK-style clients find it)::

        with Server("/srv/vehicle", "udpin://0.0.0.0:14540"):
            ...  # clients connect with udpout://<this host>:14540

    Args:
        root_dir: an existing directory.
        system_address: the connection URL (forms as for ``System.connect``).
        sysid, compid: our own MAVLink ids (1/1: an autopilot).
        read_only: refuse every write, create, remove and rename (FILE_PROTECTED).
        link_rate: pace bursts at this many bytes per second of frames on
            links of unknown rate (UDP, TCP); 0 = as fast as possible;
            None keeps the library's default (3 000 000).

    Raises:
        FtpError: FILE_DOES_NOT_EXIST when ``root_dir`` is not a directory,
            INVALID_PARAMETER / FILE_IO_ERROR for the address.
    """

    def __init__(self, root_dir: Union[str, "os.PathLike[str]"], system_address: str = "udpin://0.0.0.0:14540",
                 *, sysid: int = 1, compid: int = 1, read_only: bool = False,
                 link_rate: Optional[int] = None) -> None:
        self.root_dir = os.fspath(root_dir)
        self.system_address = system_address
        try:
            self._native = NativeServer(system_address, root_dir, sysid, compid)
        except NativeFailure as e:
            raise make_error(e.code, e.detail, "Server()", (root_dir, system_address)) from None
        if read_only:
            self.set_read_only(True)
        if link_rate is not None:
            self.set_link_rate(link_rate)

    def set_read_only(self, read_only: bool) -> None:
        """Refuse (True) or allow again (False) every change to the root."""
        self._wrap("set_read_only()", (read_only,), self._native.set_read_only, read_only)

    def set_link_rate(self, bytes_per_second: int) -> None:
        """Pace bursts at ``bytes_per_second`` of frames (0: unpaced)."""
        self._wrap("set_link_rate()", (bytes_per_second,), self._native.set_link_rate, bytes_per_second)

    @staticmethod
    def _wrap(origin: str, params: Any, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except NativeFailure as e:
            raise make_error(e.code, e.detail, origin, params) from None

    def close(self) -> None:
        """Stop serving and free the server and its link."""
        self._native.close()

    @property
    def closed(self) -> bool:
        return self._native.closed

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
