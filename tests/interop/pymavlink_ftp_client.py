#!/usr/bin/env python3
"""Drive pymavlink's (2.4.50) MAVLink FTP client, pymavlink.mavftp.MAVFTP, against a server.

    pymavlink_ftp_client.py --url URL [--target-sysid N] [--target-compid N]
                            [--no-heartbeat] [--own-sysid N] [--own-compid N]
                            [--burst-size N] [--write-size N] [--write-qsize N]
                            [--retry-time S] [--idle-time S] [--debug 0|1|2]
                            [--discover-timeout S] [--timeout S]
                            [--signing-key HEX64] [--signing-link-id N] OP ARGS...

    OP: download REMOTE LOCALDIR [--burst]   (file lands in LOCALDIR/basename(REMOTE))
        upload LOCAL REMOTEDIR               (file lands in REMOTEDIR/basename(LOCAL))
        list REMOTEDIR
        mkdir PATH | rmdir PATH | rm PATH
        rename FROM TO
        cmp LOCAL REMOTE                     (remote CalcFileCRC32 vs local MAVLink CRC32)

URL: a pymavlink connection string, "udpin:127.0.0.1:PORT" (listen) or
"udpout:127.0.0.1:PORT" (send); the MAVSDK spelling "udpin://..." is accepted too.
The client sends its own GCS HEARTBEAT (type GCS, autopilot INVALID) once a second
while it waits for the server's, so a listening (udpin) server learns its address.

--signing-key: MAVLink 2 signing with pymavlink's own implementation
(mavutil's setup_signing: every frame we send is signed with this 32-byte key,
given as 64 hex digits, and link id --signing-link-id; incoming frames must be
correctly signed: no allow_unsigned_callback). The JSON line then has
"signing": pymavlink's counters (sig_count, goodsig_count, badsig_count,
unsigned_count, reject_count).

Prints exactly one JSON line on stdout:
    {"result": "<FtpResult name>", "pymavlink_result": "<pymavlink FtpError name>", ...}
"result" uses MAVSDK's FtpResult names so both clients can be asserted the same way
(Success->SUCCESS, FileNotFound->FILE_DOES_NOT_EXIST, FileExists->FILE_EXISTS,
FileProtected->FILE_PROTECTED, RemoteReplyTimeout->TIMEOUT, UnknownCommand->UNSUPPORTED,
FailErrno/ENOENT->FILE_DOES_NOT_EXIST, FailErrno/EEXIST->FILE_EXISTS,
FailErrno/EACCES|EPERM|EROFS->FILE_PROTECTED, FailToOpenLocalFile->FILE_IO_ERROR,
InvalidArguments->INVALID_PARAMETER, anything else->PROTOCOL_ERROR).
Extras: list "dirs", "files", "sizes"; download "local_path", "local_size";
upload "local_size"; cmp "identical", "remote_crc", "local_crc". Exit code 0 whatever
the FTP result; 2 for harness failures (no heartbeat: result "NO_SYSTEM"; bad args;
exception), 3 when the hard time limit hits (result "HARNESS_TIMEOUT").

pymavlink facts that matter (2.4.50, read from its source and seen on the wire):
  * MAVFTP() sends ResetSessions first and waits for the reply (up to 5 s).
  * Downloads are always BurstReadFile (default chunk 80, --burst-size up to 239;
    it switches to 239 if the server sends more than asked). There is no plain
    ReadFile download mode: ReadFile is only used to fill gaps. --burst is accepted
    for CLI symmetry and changes nothing.
  * Uploads: CreateFile, then up to --write-qsize (5) WriteFile of --write-size (80)
    bytes in flight. It takes the block index from the ACK's *offset* field, so a
    server that does not echo the offset (MAVSDK's server 4.1.0 sends 0) never
    completes an upload bigger than one block (docs/PROTOCOL_NOTES.md §10.6).
  * A failing command (a NAK) is reported only after --idle-time (3.7 s) of silence.
  * Replies must be addressed to our (own-sysid, own-compid); others are dropped.
"""

import argparse
import errno
import json
import os
import sys
import threading
import time
import zlib

os.environ.setdefault("MAVLINK20", "1")

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
    with _out_lock:
        if not _printed[0]:
            _printed[0] = True
            sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
            sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def mav_crc32(path):
    """MAVLink FTP CRC32: reflected 0x04C11DB7, init 0, no final xor (docs/PROTOCOL_NOTES.md §8)."""
    crc = 0xFFFFFFFF  # zlib's running value v means register ~v; register 0 -> v = ~0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
    return crc ^ 0xFFFFFFFF


assert zlib.crc32(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0x2DFD2D88


def to_mavsdk_name(ret):
    from pymavlink.mavftp import FtpError as E

    code = ret.error_code
    if code == E.FailErrno:
        if ret.system_error == errno.ENOENT:
            return "FILE_DOES_NOT_EXIST"
        if ret.system_error == errno.EEXIST:
            return "FILE_EXISTS"
        if ret.system_error in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "FILE_PROTECTED"
        return "PROTOCOL_ERROR"
    return {
        E.Success: "SUCCESS",
        E.FileNotFound: "FILE_DOES_NOT_EXIST",
        E.FileExists: "FILE_EXISTS",
        E.FileProtected: "FILE_PROTECTED",
        E.RemoteReplyTimeout: "TIMEOUT",
        E.UnknownCommand: "UNSUPPORTED",
        E.FailToOpenLocalFile: "FILE_IO_ERROR",
        E.InvalidArguments: "INVALID_PARAMETER",
    }.get(code, "PROTOCOL_ERROR")


def ret_fields(ret):
    from pymavlink.mavftp import FtpError as E

    try:
        name = E(ret.error_code).name
    except ValueError:
        name = str(ret.error_code)
    d = {"result": to_mavsdk_name(ret), "pymavlink_result": name}
    if ret.error_code == E.FailErrno:
        d["errno"] = ret.system_error
    if ret.error_code == E.InvalidErrorCode:
        d["nak_code"] = ret.invalid_error_code
    return d


def parse_args():
    ap = argparse.ArgumentParser(
        description="pymavlink MAVFTP client harness (one JSON line on stdout)"
    )
    ap.add_argument("--url", required=True)
    ap.add_argument("--target-sysid", type=int, default=None)
    ap.add_argument("--target-compid", type=int, default=None)
    ap.add_argument(
        "--no-heartbeat",
        action="store_true",
        help="do not wait for a HEARTBEAT (needs --target-sysid and --target-compid)",
    )
    ap.add_argument("--own-sysid", type=int, default=250)
    ap.add_argument("--own-compid", type=int, default=190)
    ap.add_argument("--burst-size", type=int, default=80, help="burst_read_size 1..239")
    ap.add_argument("--write-size", type=int, default=80, help="write_size 1..239")
    ap.add_argument("--write-qsize", type=int, default=5)
    ap.add_argument("--retry-time", type=float, default=0.5)
    ap.add_argument("--idle-time", type=float, default=3.7, help="idle_detection_time")
    ap.add_argument("--debug", type=int, default=0, choices=[0, 1, 2])
    ap.add_argument("--discover-timeout", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--burst", action="store_true", help="no-op: pymavlink always bursts")
    ap.add_argument("--signing-key", default=None, help="64 hex digits: sign and require signing")
    ap.add_argument("--signing-link-id", type=int, default=0)
    ap.add_argument("op", choices=sorted(OPS))
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if len(a.args) != OPS[a.op]:
        ap.error(f"{a.op} takes {OPS[a.op]} argument(s), got {len(a.args)}")
    if a.no_heartbeat and (a.target_sysid is None or a.target_compid is None):
        ap.error("--no-heartbeat needs --target-sysid and --target-compid")
    if a.idle_time <= 1.0:
        ap.error("--idle-time must be > 1.0 (pymavlink's read_retry_time)")
    if a.timeout <= a.idle_time:
        ap.error("--timeout must be > --idle-time")
    if a.signing_key is not None:
        try:
            a.signing_key = bytes.fromhex(a.signing_key)
        except ValueError:
            ap.error("--signing-key must be hex")
        if len(a.signing_key) != 32:
            ap.error("--signing-key must be 32 bytes (64 hex digits)")
    return a


def signing_counters(conn):
    sg = conn.mav.signing
    return {
        "sig_count": sg.sig_count,
        "goodsig_count": sg.goodsig_count,
        "badsig_count": sg.badsig_count,
        "unsigned_count": sg.unsigned_count,
        "reject_count": sg.reject_count,
    }


def normalize_url(url):
    for scheme in ("udpin", "udpout", "udp", "tcpin", "tcp"):
        if url.startswith(scheme + "://"):
            return scheme + ":" + url[len(scheme) + 3 :]
    return url


def wait_heartbeat(conn, a, mavlink):
    """Return (sysid, compid) of the first matching HEARTBEAT, or None."""
    deadline = time.monotonic() + a.discover_timeout
    next_hb = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_hb:
            conn.mav.heartbeat_send(
                mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0
            )
            next_hb = now + 1.0
        m = conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.2)
        if m is None:
            continue
        src_s, src_c = m.get_srcSystem(), m.get_srcComponent()
        if (src_s, src_c) == (a.own_sysid, a.own_compid):
            continue
        if a.target_sysid is not None and src_s != a.target_sysid:
            continue
        if a.target_compid is not None and src_c != a.target_compid:
            continue
        return src_s, src_c
    return None


def main():
    a = parse_args()
    base = {"op": a.op, "peer": "pymavlink", "own_sysid": a.own_sysid,
            "own_compid": a.own_compid}
    hard_limit = a.discover_timeout + a.timeout + 15.0

    def watchdog():
        time.sleep(hard_limit)
        emit(dict(base, result="HARNESS_TIMEOUT", error=f"hard limit {hard_limit}s"), 3)

    threading.Thread(target=watchdog, daemon=True).start()

    import logging

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if a.debug else logging.WARNING,
        format="pymavlink_ftp_client: %(levelname)s %(message)s",
    )
    from pymavlink import mavutil
    from pymavlink.mavftp import MAVFTP, FtpError, MAVFTPReturn, MAVFTPSettings

    t_start = time.monotonic()
    conn = mavutil.mavlink_connection(
        normalize_url(a.url),
        source_system=a.own_sysid,
        source_component=a.own_compid,
    )
    mavlink = mavutil.mavlink
    if a.signing_key is not None:
        conn.setup_signing(a.signing_key, sign_outgoing=True, allow_unsigned_callback=None,
                           link_id=a.signing_link_id)
        base["signing_link_id"] = a.signing_link_id
    if a.no_heartbeat:
        target = (a.target_sysid, a.target_compid)
        # Let a listening server learn our address anyway.
        conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
    else:
        target = wait_heartbeat(conn, a, mavlink)
        if target is None:
            emit(dict(base, result="NO_SYSTEM",
                      error=f"no matching HEARTBEAT within {a.discover_timeout}s"), 2)
    base["discover_s"] = round(time.monotonic() - t_start, 3)
    base["target_sysid"], base["target_compid"] = target

    settings = MAVFTPSettings(
        [
            ("debug", int, a.debug),
            ("pkt_loss_tx", int, 0),
            ("pkt_loss_rx", int, 0),
            ("max_backlog", int, 5),
            ("burst_read_size", int, a.burst_size),
            ("write_size", int, a.write_size),
            ("write_qsize", int, a.write_qsize),
            ("idle_detection_time", float, a.idle_time),
            ("read_retry_time", float, 1.0),
            ("retry_time", float, a.retry_time),
        ]
    )
    t_op = time.monotonic()
    ftp = MAVFTP(conn, target_system=target[0], target_component=target[1],
                 settings=settings)
    base["reset_s"] = round(time.monotonic() - t_op, 3)

    op, args = a.op, a.args
    extra = {}
    t_op = time.monotonic()
    c_op = time.process_time()  # CPU of the whole process during the op
    if op == "download":
        remote, localdir = args
        os.makedirs(localdir, exist_ok=True)
        local = os.path.join(localdir, os.path.basename(remote))
        if os.path.exists(local):
            os.unlink(local)  # so that a stale file cannot pass for a download
        extra["local_path"] = local
        extra["burst_size"] = a.burst_size
        ret = ftp.cmd_get([remote, local])
        if ret.error_code == FtpError.Success:
            ret = ftp.process_ftp_reply("get", timeout=a.timeout)
        if os.path.exists(local):
            extra["local_size"] = os.path.getsize(local)
        elif ret.error_code == FtpError.Success:
            ret = MAVFTPReturn("get", FtpError.Fail)
            extra["error"] = "pymavlink reported success but wrote no file"
    elif op == "upload":
        local, remotedir = args
        remote = remotedir.rstrip("/") + "/" + os.path.basename(local)
        extra["remote_path"] = remote
        extra["write_size"] = a.write_size
        if os.path.exists(local):
            extra["local_size"] = os.path.getsize(local)
        ret = ftp.cmd_put([local, remote])
        if ret.error_code == FtpError.Success:
            ret = ftp.process_ftp_reply("put", timeout=a.timeout)
    elif op == "list":
        ret = ftp.cmd_list([args[0]])
        if ret.error_code == FtpError.Success:
            dirs, files, sizes = [], [], {}
            for e in ret.directory_listing or []:
                if e.is_dir:
                    dirs.append(e.name)
                else:
                    files.append(e.name)
                    sizes[e.name] = e.size_b
            extra.update(dirs=sorted(dirs), files=sorted(files), sizes=sizes)
    elif op == "mkdir":
        ret = ftp.cmd_mkdir([args[0]])
    elif op == "rmdir":
        ret = ftp.cmd_rmdir([args[0]])
    elif op == "rm":
        ret = ftp.cmd_rm([args[0]])
    elif op == "rename":
        ret = ftp.cmd_rename([args[0], args[1]])
    elif op == "cmp":
        local, remote = args
        got = {}
        orig = ftp._MAVFTP__handle_crc_reply  # name-mangled private handler

        def capture(op_, m):
            from pymavlink.mavftp_op import OP_Ack

            if op_.opcode == OP_Ack and op_.size == 4 and op_.payload is not None:
                got["crc"] = int.from_bytes(bytes(op_.payload[:4]), "little")
            return orig(op_, m)

        ftp._MAVFTP__handle_crc_reply = capture
        ret = ftp.cmd_crc([remote])
        if ret.error_code == FtpError.Success:
            try:
                lc = mav_crc32(local)
            except OSError as e:
                ret = MAVFTPReturn("CalcFileCRC32", FtpError.FailToOpenLocalFile)
                extra["error"] = str(e)
            else:
                extra["local_crc"] = f"0x{lc:08x}"
                if "crc" in got:
                    extra["remote_crc"] = f"0x{got['crc']:08x}"
                    extra["identical"] = got["crc"] == lc
                else:
                    ret = MAVFTPReturn("CalcFileCRC32", FtpError.PayloadTooLarge)
                    extra["error"] = "CRC ACK without a 4-byte value"
    else:  # pragma: no cover
        raise AssertionError(op)

    out = dict(base, **extra, **ret_fields(ret))
    if a.signing_key is not None:
        out["signing"] = signing_counters(conn)
    out["elapsed_s"] = round(time.monotonic() - t_op, 3)
    out["cpu_s"] = round(time.process_time() - c_op, 4)
    out["total_s"] = round(time.monotonic() - t_start, 3)
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    emit(out, 0)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        emit({"result": "HARNESS_ERROR", "error": f"{type(e).__name__}: {e}"}, 2)
