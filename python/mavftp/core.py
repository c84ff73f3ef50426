"""Connection state, with the shape of MAVSDK-Python's ``mavsdk.core``."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from ._engine import Connection

__all__ = ["Core", "ConnectionState"]

# Polling period of connection_state(); a vehicle heartbeats at 1 Hz.
_POLL_S = 0.1


class ConnectionState:
    """Whether the vehicle is connected.

    Attributes:
        is_connected: True while the target system was heard in the last 3 s.
    """

    __slots__ = ("is_connected",)

    def __init__(self, is_connected: bool) -> None:
        self.is_connected = is_connected

    def __eq__(self, to_compare: object) -> bool:
        try:
            return bool(self.is_connected == to_compare.is_connected)  # type: ignore[attr-defined]
        except AttributeError:
            return False

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"ConnectionState: [is_connected: {self.is_connected}]"

    __repr__ = __str__


class Core:
    """Connection state of the system (``drone.core``)."""

    name = "Core"

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def connection_state(self) -> AsyncIterator[ConnectionState]:
        """Yield the connection state now and again at every change, as
        MAVSDK-Python's ``core.connection_state()`` does. Connected means that
        the target system (the first one heard, unless ``connect`` named one)
        sent any MAVLink message in the last 3 seconds."""
        last = None
        while True:
            now = self._conn.is_connected()
            if now != last:
                last = now
                yield ConnectionState(now)
            await asyncio.sleep(_POLL_S)
