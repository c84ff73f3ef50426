"""mavftp: MAVLink FTP for Python, with MAVSDK-Python's ``drone.ftp`` API.

Switching from MAVSDK-Python is a change of import::

    import asyncio
    from mavftp import System

    async def run():
        drone = System()
        await drone.connect(system_address="udpin://0.0.0.0:14540")
        async for state in drone.core.connection_state():
            if state.is_connected:
                break
        async for update in drone.ftp.download("/fs/microsd/log/log1.ulg", ".", use_burst=True):
            print(f"{update.bytes_transferred} of {update.total_bytes} bytes")

    asyncio.run(run())

``mavftp.sync`` has the same calls for scripts that do not use asyncio,
:class:`Server` serves a directory, and ``python -m mavftp`` is a command-line
client. The work is done by libmavftp (Rust), bundled in this package and
loaded with ctypes (``MAVFTP_LIBRARY`` names another copy to load instead).
"""

from __future__ import annotations

from ._native import LIBRARY_PATH, library_version
from .core import ConnectionState, Core
from .ftp import DirectoryEntry, Ftp, FtpError, FtpResult, ListDirectoryData, ProgressData
from .server import Server
from .system import DEFAULT_ADDRESS, System

try:
    from importlib.metadata import PackageNotFoundError, version as _dist_version

    __version__ = _dist_version("mavftp")
except PackageNotFoundError:  # imported from a source tree with MAVFTP_LIBRARY set
    __version__ = library_version()

__all__ = [
    "System",
    "Server",
    "Ftp",
    "FtpError",
    "FtpResult",
    "ProgressData",
    "ListDirectoryData",
    "DirectoryEntry",
    "Core",
    "ConnectionState",
    "DEFAULT_ADDRESS",
    "LIBRARY_PATH",
    "library_version",
    "__version__",
]
