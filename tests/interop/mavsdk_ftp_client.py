#!/usr/bin/env python3
"""Drive MAVSDK's (4.1.0, libcmavsdk via ctypes) MAVLink FTP *client* against a server.

    mavsdk_ftp_client.py --url URL [--target-compid N] [--target-sysid N]
                         [--own-sysid N] [--own-compid N]
                         [--discover-timeout S] [--timeout S] OP ARGS...

    OP: download REMOTE LOCALDIR [--burst]   (file lands in LOCALDIR/basename(REMOTE))
        upload LOCAL REMOTEDIR               (file lands in REMOTEDIR/basename(LOCAL))
        list REMOTEDIR
        mkdir PATH | rmdir PATH | rm PATH
        rename FROM TO
        cmp LOCAL REMOTE                     (CRC32 compare, MAVSDK are_files_identical)

URL is a MAVSDK connection URL: udpin://127.0.0.1:PORT (listen; the server must send
first, e.g. its HEARTBEAT) or udpout://127.0.0.1:PORT (send to a listening server).

Prints exactly one JSON line on stdout:
    {"result": "<FtpResult name>", "op": ..., "elapsed_s": ..., "discover_s": ..., ...}
with extras per op: download/upload "bytes_transferred", "total_bytes" (from the last
progress callback) and "local_path" for download; list "dirs", "files" (sorted
names) and "sizes" {file: size}; cmp "identical" (bool, only when result is
SUCCESS). Exit code 0 whatever the FTP result. Harness failures: exit 2 (bad
arguments, connection refused, no system discovered: result "NO_SYSTEM") or 3 (the
operation did not call back within --timeout: result "HARNESS_TIMEOUT"); the JSON
line is printed in those cases too, with an "error" field.

Discovery: with no --target-compid or --target-compid 1 the client uses
first_autopilot(), which only accepts a HEARTBEAT from component 1. For any other
target compid it polls get_systems() for a system that lists that component (which
also needs that component's HEARTBEAT) and then calls set_target_compid(N). By default
(no --target-compid) MAVSDK's FTP client addresses the autopilot, compid 1.

Own ids: Configuration(ComponentType.GROUND_STATION) = sysid 245, compid 190; the
server must reply to those. --own-sysid/--own-compid override them.
"""

import argparse
import json
import os
import sys
import threading
import time

OPS = {
    "download": 2,
    "upload": 2,
    "list": 1,
    "mkdir": 1,
    "rmdir": 1,
    "rm": 1,
    "rename": 2,
    "cmp": 2,
}

_out_lock = threading.Lock()
_printed = [False]


def emit(obj, code):
    """Print the single JSON result line once and exit with code."""
    with _out_lock:
        if not _printed[0]:
            _printed[0] = True
            sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
            sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: never let a stuck native thread or teardown keep us alive.
    os._exit(code)


def log(msg):
    print(f"mavsdk_ftp_client: {msg}", file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(
        description="MAVSDK FTP client harness (one JSON line on stdout)"
    )
    ap.add_argument("--url", required=True)
    ap.add_argument("--target-compid", type=int, default=None)
    ap.add_argument(
        "--target-sysid",
        type=int,
        default=None,
        help="pick this system when several are discovered",
    )
    ap.add_argument("--own-sysid", type=int, default=None, help="default 245")
    ap.add_argument("--own-compid", type=int, default=None, help="default 190")
    ap.add_argument("--discover-timeout", type=float, default=10.0)
    ap.add_argument(
        "--timeout", type=float, default=120.0, help="limit for the FTP operation"
    )
    ap.add_argument("--burst", action="store_true", help="download: use BurstReadFile")
    ap.add_argument("op", choices=sorted(OPS))
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if len(a.args) != OPS[a.op]:
        ap.error(f"{a.op} takes {OPS[a.op]} argument(s), got {len(a.args)}")
    return a


def discover(mav, a, base):
    """Return a System (or None) within a.discover_timeout seconds."""
    t0 = time.monotonic()
    if (a.target_compid in (None, 1)) and a.target_sysid is None:
        system = mav.first_autopilot(a.discover_timeout)
        base["discover_s"] = round(time.monotonic() - t0, 3)
        return system
    deadline = t0 + a.discover_timeout
    while time.monotonic() < deadline:
        for s in mav.get_systems():
            if a.target_sysid is not None and s.get_system_id() != a.target_sysid:
                continue
            want = 1 if a.target_compid is None else a.target_compid
            if want in s.component_ids():
                base["discover_s"] = round(time.monotonic() - t0, 3)
                return s
        time.sleep(0.05)
    base["discover_s"] = round(time.monotonic() - t0, 3)
    return None


def main():
    a = parse_args()
    base = {"op": a.op, "peer": "mavsdk"}
    t_start = time.monotonic()

    # Hard stop for the whole process, whatever the native library does.
    hard_limit = a.discover_timeout + a.timeout + 15.0

    def watchdog():
        time.sleep(hard_limit)
        emit(
            dict(base, result="HARNESS_TIMEOUT", error=f"hard limit {hard_limit}s"),
            3,
        )

    threading.Thread(target=watchdog, daemon=True).start()

    from mavsdk import ComponentType, Configuration, ConnectionResult, Mavsdk
    from mavsdk.plugins.ftp.ftp import Ftp, FtpResult

    cfg = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    if a.own_sysid is not None:
        cfg.system_id = a.own_sysid
    if a.own_compid is not None:
        cfg.component_id = a.own_compid
    base["own_sysid"], base["own_compid"] = cfg.system_id, cfg.component_id
    mav = Mavsdk(cfg)
    cfg.destroy()

    res = ConnectionResult(mav.add_any_connection(a.url))
    if res != ConnectionResult.SUCCESS:
        emit(dict(base, result="NO_SYSTEM", error=f"add_any_connection: {res.name}"), 2)

    system = discover(mav, a, base)
    if system is None:
        emit(
            dict(
                base,
                result="NO_SYSTEM",
                error=f"no system/component found within {a.discover_timeout}s",
            ),
            2,
        )
    base["target_sysid"] = system.get_system_id()
    base["target_components"] = list(system.component_ids())

    ftp = Ftp(system)
    if a.target_compid is not None:
        r = FtpResult(ftp.set_target_compid(a.target_compid))
        if r != FtpResult.SUCCESS:
            emit(dict(base, result=r.name, error="set_target_compid failed"), 2)

    done = threading.Event()
    out = {}
    progress = {}

    def finish(result, **extra):
        if not done.is_set():
            out.update(extra)
            out["result"] = FtpResult(result).name
            done.set()

    def on_progress(result, data, _ud):
        if FtpResult(result) == FtpResult.NEXT:
            progress["bytes_transferred"] = data.bytes_transferred
            progress["total_bytes"] = data.total_bytes
            return
        if data is not None and (data.bytes_transferred or data.total_bytes):
            progress["bytes_transferred"] = data.bytes_transferred
            progress["total_bytes"] = data.total_bytes
        finish(result)

    op, args = a.op, a.args
    t_op = time.monotonic()
    c_op = time.process_time()  # CPU of the whole process (native threads too)
    if op == "download":
        remote, localdir = args
        os.makedirs(localdir, exist_ok=True)
        base["burst"] = a.burst
        base["local_path"] = os.path.join(localdir, os.path.basename(remote))
        ftp.download_async(remote, localdir, a.burst, on_progress)
    elif op == "upload":
        local, remotedir = args
        ftp.upload_async(local, remotedir, on_progress)
    elif op == "list":

        def on_list(result, data, _ud):
            dirs, files, sizes = [], [], {}
            if data is not None:
                for e in data.entries:
                    if int(e.entry_type) == 2:
                        dirs.append(e.name)
                    else:
                        files.append(e.name)
                        sizes[e.name] = e.size_bytes
            if FtpResult(result) == FtpResult.SUCCESS:
                finish(result, dirs=sorted(dirs), files=sorted(files), sizes=sizes)
            else:
                finish(result)

        ftp.list_directory_async(args[0], on_list)
    elif op in ("mkdir", "rmdir", "rm"):
        fn = {
            "mkdir": ftp.create_directory_async,
            "rmdir": ftp.remove_directory_async,
            "rm": ftp.remove_file_async,
        }[op]
        fn(args[0], lambda result, _ud: finish(result))
    elif op == "rename":
        ftp.rename_async(args[0], args[1], lambda result, _ud: finish(result))
    elif op == "cmp":

        def on_cmp(result, identical, _ud):
            extra = {}
            if FtpResult(result) == FtpResult.SUCCESS:
                extra["identical"] = bool(identical)
            finish(result, **extra)

        ftp.are_files_identical_async(args[0], args[1], on_cmp)

    if not done.wait(a.timeout):
        emit(
            dict(
                base,
                **progress,
                result="HARNESS_TIMEOUT",
                error=f"no final callback within {a.timeout}s",
                elapsed_s=round(time.monotonic() - t_op, 3),
            ),
            3,
        )
    res_obj = dict(base, **progress, **out)
    res_obj["elapsed_s"] = round(time.monotonic() - t_op, 3)
    res_obj["cpu_s"] = round(time.process_time() - c_op, 4)
    res_obj["total_s"] = round(time.monotonic() - t_start, 3)
    try:
        mav.destroy()
    except Exception as e:  # noqa: BLE001
        log(f"destroy: {e}")
    emit(res_obj, 0)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        emit({"result": "HARNESS_ERROR", "error": f"{type(e).__name__}: {e}"}, 2)
