#!/usr/bin/env python3
"""Run MAVSDK's (4.1.0, libcmavsdk via ctypes) MAVLink FTP server on a directory.

    mavsdk_ftp_server.py --root DIR --url URL [--sysid N] [--compid N]
                         [--lifetime SECONDS] [--no-stdin-watch]

URL is a MAVSDK connection URL, for example
    udpout://127.0.0.1:15101   send to our client's UDP port (the server speaks first:
                               its HEARTBEATs go out right away, ~1 Hz)
    udpin://127.0.0.1:15101    listen; the server learns the peer's address from the
                               first datagram it receives, so the client must send
                               something (e.g. a HEARTBEAT) before it hears anything
udpin:// needs a numeric IP ("localhost" fails with SOCKET_ERROR), udpout:// accepts a
host name, IPv6 is refused (CONNECTION_URL_INVALID). udp:// and tcp:// still work but
are deprecated. tcpin:// / tcpout:// exist as well.

Prints exactly one line, "READY", on stdout (flushed) once the FTP server is
attached and the connection is up; diagnostics go to stderr (MAVSDK's own log lines
are on stderr too). Exits 0 on SIGTERM, SIGINT, EOF on stdin (unless
--no-stdin-watch; note that a stdin of /dev/null is an immediate EOF), or when
--lifetime seconds (default 3600) have passed.

Component ids (verified with MAVSDK 4.1.0 on loopback; see README.md):
  * Configuration(ComponentType.AUTOPILOT) gives sysid 1 / compid 1. This script
    keeps that component type and overrides the ids with --sysid/--compid, then
    attaches FtpServer to server_component_by_id(compid). The server then answers as
    exactly (sysid, compid): it replies to target_component == compid or 0 (broadcast)
    and ignores any other compid. Its HEARTBEAT comes from that same (sysid, compid),
    about once a second (type 0 MAV_TYPE_GENERIC, autopilot 0 MAV_AUTOPILOT_GENERIC),
    and it is the only component heartbeating.
  * With --compid 1 (the default) the MAVSDK client finds it with first_autopilot().
    Any other compid is not an autopilot to MAVSDK (first_autopilot() times out; the
    client must take the system from get_systems() and call set_target_compid()).
  * Every MAVSDK server component carries its own FTP server, and one with no root
    dir NAKs every request with Fail. Using server_component() with a changed
    compid would create two components (the configured compid plus a default
    compid-1 autopilot), both heartbeating, and a broadcast request would get two
    replies, one of them a NAK. Hence server_component_by_id(compid) here.
"""

import argparse
import os
import sys
import time

from server_driver_common import checked_root, stop_on_signals, stop_on_stdin_eof


def log(msg):
    print(f"mavsdk_ftp_server: {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="directory to serve")
    ap.add_argument("--url", required=True, help="MAVSDK connection URL")
    ap.add_argument("--sysid", type=int, default=1, help="own system id (default 1)")
    ap.add_argument(
        "--compid", type=int, default=1, help="own component id (default 1 = autopilot)"
    )
    ap.add_argument(
        "--lifetime",
        type=float,
        default=3600.0,
        help="exit by itself after this many seconds (default 3600)",
    )
    ap.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="do not exit when stdin reaches EOF",
    )
    a = ap.parse_args()

    root = checked_root(ap, a)
    stop, why = stop_on_signals()

    from mavsdk import ComponentType, Configuration, ConnectionResult, Mavsdk
    from mavsdk.plugins.ftp_server.ftp_server import FtpServer

    cfg = Configuration.create_with_component_type(ComponentType.AUTOPILOT)
    cfg.system_id = a.sysid
    cfg.component_id = a.compid
    mav = Mavsdk(cfg)
    cfg.destroy()
    try:
        res = ConnectionResult(mav.add_any_connection(a.url))
        if res != ConnectionResult.SUCCESS:
            log(f"add_any_connection({a.url}) failed: {res.name}")
            return 2
        comp = mav.server_component_by_id(a.compid)
        if comp is None:
            log(f"server_component_by_id({a.compid}) returned nothing")
            return 2
        ftp = FtpServer(comp)
        ftp.set_root_dir(root)
        log(
            f"serving {root} as sysid {a.sysid} compid {a.compid} on {a.url} "
            f"(MAVSDK {mav.version()}, pid {os.getpid()})"
        )

        if not a.no_stdin_watch:
            stop_on_stdin_eof(stop, why)

        print("READY", flush=True)
        deadline = time.monotonic() + a.lifetime
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.2)
        log(f"stopping ({why[0]})")
    finally:
        mav.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
