"""The entry point, with the shape of MAVSDK-Python's ``mavsdk.System``."""

from __future__ import annotations

from typing import Any, Optional

from ._engine import Connection, NativeFailure
from .core import Core
from .ftp import Ftp, make_error

__all__ = ["System", "DEFAULT_ADDRESS"]

#: The address ``connect()`` listens on when given none (MAVSDK's default port).
DEFAULT_ADDRESS = "udpin://0.0.0.0:14540"


def _not_connected(plugin: str) -> str:
    return f"{plugin} plugin has not been initialized! Did you run `System.connect()`?"


def open_connection(system_address: Optional[str], sysid: int, compid: int,
                    target_system: int, target_component: int) -> Connection:
    url = DEFAULT_ADDRESS if system_address is None else system_address
    try:
        return Connection(url, sysid, compid, target_system, target_component)
    except NativeFailure as e:
        raise make_error(e.code, e.detail, "connect()", (url,)) from None


class System:
    """A vehicle reached over one MAVLink connection::

        drone = System()
        await drone.connect(system_address="udpin://0.0.0.0:14540")
        async for update in drone.ftp.download("/fs/microsd/log.ulg", ".", use_burst=True):
            ...

    Args:
        mavsdk_server_address: accepted for compatibility with MAVSDK-Python
            and ignored (there is no separate server process).
        port: likewise accepted and ignored.
        sysid: our own MAVLink system id (245, a ground station, as MAVSDK).
        compid: our own component id (190, as MAVSDK).
    """

    def __init__(self, mavsdk_server_address: Optional[str] = None, port: int = 50051,
                 sysid: int = 245, compid: int = 190) -> None:
        del mavsdk_server_address, port
        self._sysid = sysid
        self._compid = compid
        self._conn: Optional[Connection] = None
        self._ftp: Optional[Ftp] = None
        self._core: Optional[Core] = None

    async def connect(self, system_address: Optional[str] = None, *,
                      target_system: int = 0, target_component: int = 1) -> None:
        """Open the connection. Returns at once, as MAVSDK-Python's does: wait
        for the vehicle with ``drone.core.connection_state()``.

        Args:
            system_address: ``udpin://HOST:PORT`` (listen; the default is
                ``udpin://0.0.0.0:14540``), ``udpout://HOST:PORT`` (send to),
                ``tcpin://HOST:PORT``, ``tcpout://HOST:PORT`` or
                ``serial:///dev/ttyACM0:57600``.
            target_system: the vehicle's system id; 0 (default) means the
                first system heard.
            target_component: the component that serves FTP (1, the autopilot).

        Raises:
            FtpError: INVALID_PARAMETER for a malformed address,
                FILE_IO_ERROR when the socket or port cannot be opened.
        """
        self.close()
        conn = open_connection(system_address, self._sysid, self._compid, target_system, target_component)
        self._conn = conn
        self._ftp = Ftp(conn)
        self._core = Core(conn)

    @property
    def ftp(self) -> Ftp:
        """The FTP plugin (after ``connect``)."""
        if self._ftp is None:
            raise RuntimeError(_not_connected("Ftp"))
        return self._ftp

    @property
    def core(self) -> Core:
        """Connection state (after ``connect``)."""
        if self._core is None:
            raise RuntimeError(_not_connected("Core"))
        return self._core

    def close(self) -> None:
        """Close the connection; operations still running end with CANCELLED.
        Also done when the System is garbage-collected or the process exits."""
        conn, self._conn, self._ftp, self._core = self._conn, None, None, None
        if conn is not None:
            conn.close()

    async def __aenter__(self) -> "System":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
