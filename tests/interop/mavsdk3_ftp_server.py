#!/usr/bin/env python3
"""Run MAVSDK 3.17.4's MAVLink FTP server (mavsdk_server + gRPC) on a directory.

    mavsdk3_ftp_server.py --root DIR --url URL [--sysid N] [--compid N]
                          [--lifetime SECONDS] [--no-stdin-watch]

Same contract as mavsdk_ftp_server.py (the 4.1 driver): prints exactly one line,
"READY", on stdout (flushed) once the FTP server has its root dir; diagnostics (and
mavsdk_server's own log) go to stderr. Exits 0 on SIGTERM, SIGINT, EOF on stdin
(unless --no-stdin-watch) or after --lifetime seconds (default 3600); 2 when the
server cannot be started.

The 3.x wheel (`mavsdk==3.17.4`, MAVSDK-Python) has no C binding: it ships the
`mavsdk_server` binary (C++ MAVSDK v3.17.4 behind a gRPC API). This script starts
that binary itself on a free gRPC port, with the MAVLink connection URL, then calls
the `FtpServer.SetRootDir` RPC through MAVSDK-Python's `System(
mavsdk_server_address=..., port=...)`.

Wire facts (MAVSDK v3.17.4, loopback, see tests/interop/README.md):
  * mavsdk_server starts its gRPC API only once it has discovered an AUTOPILOT
    ("Waiting to discover system on URL..." until a HEARTBEAT from compid 1 with an
    autopilot other than INVALID arrives; a ground station's heartbeat is not
    enough). For a `udpin://IP:PORT` URL this script therefore sends HEARTBEATs of a
    stand-in autopilot (--kick-sysid, default 200, compid 1) from a throwaway socket
    until READY. With `udpout://` the peer itself must heartbeat as an autopilot.
  * The FtpServer plugin lives on component **191** (MAV_COMP_ID_ONBOARD_COMPUTER):
    FTP requests must target sysid/191. mavsdk_server also has server components
    1 (HEARTBEAT type 0, autopilot 0) and 190 (type 6 GCS, autopilot 8): each has an
    FTP server with no root dir that NAKs everything with Fail ("Root dir not set!"),
    so a broadcast (target component 0) gets three answers, two of them NAKs.
    191 heartbeats as type 18 (ONBOARD_CONTROLLER), autopilot 8 (INVALID).
  * --sysid S is mavsdk_server's own system id; --compid does not move the FTP server.
"""

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time

from server_driver_common import checked_root, stop_on_signals, stop_on_stdin_eof


def log(msg):
    print(f"mavsdk3_ftp_server: {msg}", file=sys.stderr, flush=True)


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def x25(data, crc=0xFFFF):
    for b in data:
        t = b ^ (crc & 0xFF)
        t = (t ^ (t << 4)) & 0xFF
        crc = ((crc >> 8) ^ (t << 8) ^ (t << 3) ^ (t >> 4)) & 0xFFFF
    return crc


def autopilot_heartbeat(sysid, seq=0):
    """A MAVLink 2 HEARTBEAT from sysid/1: MAV_TYPE_QUADROTOR, MAV_AUTOPILOT_GENERIC."""
    # custom_mode u32, type, autopilot, base_mode, system_status, mavlink_version
    payload = bytes([0, 0, 0, 0, 2, 0, 0x01, 4, 3])
    header = bytes([len(payload), 0, 0, seq & 0xFF, sysid, 1, 0, 0, 0])
    crc = x25(header + payload)
    crc = x25(bytes([50]), crc)  # HEARTBEAT's CRC_EXTRA
    return b"\xfd" + header + payload + crc.to_bytes(2, "little")


def kick(url, sysid, stop):
    """mavsdk_server starts its gRPC API only once it discovered an autopilot:
    send HEARTBEATs of a stand-in autopilot (sysid/1) to a udpin URL until stop."""
    m = re.fullmatch(r"udpin://([0-9.]+):(\d+)", url)
    if not m:
        return
    dest = (m.group(1) if m.group(1) != "0.0.0.0" else "127.0.0.1", int(m.group(2)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        seq = 0
        while not stop.is_set():
            try:
                s.sendto(autopilot_heartbeat(sysid, seq), dest)
            except OSError:
                pass
            seq += 1
            stop.wait(0.2)


def pump(stream):
    """Copies mavsdk_server's output to our stderr, a run of lines that differ
    only in their time stamp collapsed into one and a count (a burst stuck at a
    moved file position logs "Burst read failed" ~70 000 times a second)."""
    last, repeats = None, 0

    def flush_repeats():
        if repeats:
            sys.stderr.write(f"mavsdk_server: (last line repeated {repeats} times)\n")

    for line in iter(stream.readline, b""):
        text = line.decode("utf-8", "replace").rstrip("\n")
        key = re.sub(r"\d\d:\d\d:\d\d", "", text)
        if key == last:
            repeats += 1
            if repeats % 100000 == 0:
                flush_repeats()
                sys.stderr.flush()
                repeats = 0
            continue
        flush_repeats()
        last, repeats = key, 0
        sys.stderr.write("mavsdk_server: " + text + "\n")
        sys.stderr.flush()
    flush_repeats()
    sys.stderr.flush()


async def set_root(port, root, timeout):
    from mavsdk import System

    drone = System(mavsdk_server_address="127.0.0.1", port=port)
    await asyncio.wait_for(drone.connect(), timeout)
    await asyncio.wait_for(drone.ftp_server.set_root_dir(root), timeout)
    return drone


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="directory to serve")
    ap.add_argument("--url", required=True, help="MAVSDK connection URL")
    ap.add_argument("--sysid", type=int, default=1, help="own system id (default 1)")
    ap.add_argument("--compid", type=int, default=1, help="own component id (default 1)")
    ap.add_argument("--lifetime", type=float, default=3600.0)
    ap.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="give up when no system was discovered within this many seconds",
    )
    ap.add_argument(
        "--kick-sysid",
        type=int,
        default=200,
        help="system id of the stand-in autopilot heartbeat sent to a udpin URL (default 200)",
    )
    ap.add_argument("--no-stdin-watch", action="store_true")
    a = ap.parse_args()

    root = checked_root(ap, a)
    stop, why = stop_on_signals()

    if not a.no_stdin_watch:
        stop_on_stdin_eof(stop, why)

    import warnings

    # 3.17.4 warns that the gRPC wrapper is renamed `mavsdk-grpc` from v4 on.
    warnings.filterwarnings("ignore", category=FutureWarning)
    import mavsdk

    binary = os.path.join(os.path.dirname(mavsdk.__file__), "bin", "mavsdk_server")
    port = free_tcp_port()
    argv = [binary, "-p", str(port), "--sysid", str(a.sysid), "--compid", str(a.compid), a.url]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    log(f"started {' '.join(argv)} (pid {proc.pid})")
    kicked = threading.Event()
    threading.Thread(target=kick, args=(a.url, a.kick_sysid, kicked), daemon=True).start()
    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(set_root(port, root, a.ready_timeout))
        while not task.done():
            loop.run_until_complete(asyncio.wait([task], timeout=0.2))
            if stop.is_set() or proc.poll() is not None:
                task.cancel()
                break
        if proc.poll() is not None:
            log(f"mavsdk_server exited with {proc.returncode}")
            return 2
        if stop.is_set():
            log(f"stopping before READY ({why[0]})")
            return 0
        try:
            task.result()
        except Exception as e:  # noqa: BLE001 - reported, then exit 2
            log(f"set_root_dir failed: {e!r}")
            return 2
        kicked.set()
        log(f"serving {root} as sysid {a.sysid} compid {a.compid} on {a.url}")
        print("READY", flush=True)
        deadline = time.monotonic() + a.lifetime
        while not stop.is_set() and time.monotonic() < deadline:
            if proc.poll() is not None:
                log(f"mavsdk_server exited with {proc.returncode}")
                return 2
            stop.wait(0.2)
        log(f"stopping ({why[0]})")
    finally:
        kicked.set()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the stdin watcher may hold stdin's lock at interpreter
    # shutdown ("Fatal Python error: _enter_buffered_busy").
    os._exit(code)
