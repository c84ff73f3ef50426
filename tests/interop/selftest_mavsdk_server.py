#!/usr/bin/env python3
"""Validate the interop harness against MAVSDK's own FTP server (no code of ours involved).

    PY=$(tests/interop/ensure_venv.sh | tail -1)
    $PY tests/interop/selftest_mavsdk_server.py [--quick] [--json OUT.json]

Starts mavsdk_ftp_server.py on a temporary root and drives it with
mavsdk_ftp_client.py (MAVSDK client) and pymavlink_ftp_client.py (pymavlink client):
list, download (plain and burst; 0, 1, 239, 240 B and 1 MiB, compared byte for byte),
upload (same sizes, compared byte for byte on the server side), mkdir, rmdir, rm,
rename, cmp, error cases, a non-default sysid/compid, a listening (udpin) server,
and finally ListDirectory on a regular file (which aborts MAVSDK's 4.1.0 server).

Every case has an expected result. Cases that fail because of a *known* quirk of a
third-party peer (docs/PROTOCOL_NOTES.md §6, §10.6, and the pymavlink 0-byte upload race) are
expected to fail the way they do, with bounded timeouts. Prints a table, then
"N passed, N failed"; exits 1 if any case did not behave as expected.
Uses UDP ports picked at random from 15000-15999 on 127.0.0.1 only.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
SERVER = os.path.join(HERE, "mavsdk_ftp_server.py")
MCLIENT = os.path.join(HERE, "mavsdk_ftp_client.py")
PCLIENT = os.path.join(HERE, "pymavlink_ftp_client.py")

SIZES = {"f0.bin": 0, "f1.bin": 1, "f239.bin": 239, "f240.bin": 240, "f1M.bin": 1 << 20}


def free_udp_port(used=set()):  # noqa: B006 - deliberate: remembers ports handed out
    for _ in range(200):
        port = random.randint(15000, 15999)
        if port in used:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        used.add(port)
        return port
    raise RuntimeError("no free UDP port in 15000-15999")


class Server:
    def __init__(self, root, url, sysid=1, compid=1):
        self.p = subprocess.Popen(
            [PY, SERVER, "--root", root, "--url", url, "--sysid", str(sysid),
             "--compid", str(compid), "--lifetime", "1800"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        line = self.p.stdout.readline().decode().strip()
        if line != "READY":
            raise RuntimeError(f"server did not print READY: {line!r}")

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        """Close stdin (the server exits on EOF); returns (exit code, stderr tail)."""
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.terminate()
                self.p.wait(10)
        err = self.p.stderr.read().decode(errors="replace")
        return self.p.returncode, err[-600:]


def run_client(kind, url, args, timeout, extra=()):
    script = MCLIENT if kind == "mavsdk" else PCLIENT
    cmd = [PY, script, "--url", url, "--timeout", str(timeout), *extra, *args]
    t0 = time.monotonic()
    try:
        cp = subprocess.run(cmd, capture_output=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return {"result": "SUBPROCESS_TIMEOUT"}, time.monotonic() - t0, cmd
    wall = time.monotonic() - t0
    lines = cp.stdout.decode().strip().splitlines()
    try:
        out = json.loads(lines[-1])
        if len(lines) != 1:
            out["stdout_lines"] = len(lines)
    except (IndexError, json.JSONDecodeError):
        out = {"result": "NO_JSON", "stderr": cp.stderr.decode()[-400:]}
    out["exit"] = cp.returncode
    return out, wall, cmd


def same_file(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip 1 MiB transfers")
    ap.add_argument("--json", help="write all rows to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="interop-selftest-")
    root = os.path.join(tmp, "root")
    local = os.path.join(tmp, "local")
    dl = os.path.join(tmp, "dl")
    for d in (root, local, dl, os.path.join(root, "sub")):
        os.makedirs(d, exist_ok=True)
    rnd = random.Random(1234)
    sizes = {k: v for k, v in SIZES.items() if not (a.quick and v > 4096)}
    for name, n in sizes.items():
        data = bytes(rnd.getrandbits(8) for _ in range(n)) if n < 4096 else os.urandom(n)
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
        with open(os.path.join(local, "u" + name), "wb") as f:
            f.write(os.urandom(n))

    rows = []

    def case(name, kind, url, args, expect, timeout=30, extra=(), check=None, note=""):
        out, wall, cmd = run_client(kind, url, args, timeout, extra)
        res = out.get("result")
        expected = expect if isinstance(expect, (list, tuple)) else [expect]
        ok = res in expected and (
            out.get("exit") == 0 or res in ("NO_SYSTEM", "HARNESS_TIMEOUT")
        )
        detail = ""
        if ok and check is not None:
            good, detail = check(out)
            ok = ok and good
        rows.append({
            "case": name, "client": kind, "result": res, "expected": "|".join(expected),
            "ok": ok, "wall_s": round(wall, 2), "op_s": out.get("elapsed_s"),
            "discover_s": out.get("discover_s"), "note": note, "detail": detail,
            "cmd": " ".join(os.path.relpath(c, HERE) if c.startswith(HERE) else c
                            for c in cmd[1:]),
        })
        flag = "ok " if ok else "BAD"
        print(f"[{flag}] {kind:9} {name:38} {res:20} wall {wall:6.2f}s "
              f"op {out.get('elapsed_s')}s {detail} {note}", flush=True)
        return out

    def file_eq(a_, b_):
        return lambda out: (same_file(a_, b_), "bytes equal" if same_file(a_, b_)
                            else "BYTES DIFFER/MISSING")

    # ---- main server: sysid 1 / compid 1, speaks first (udpout to our port) ----
    port = free_udp_port()
    srv = Server(root, f"udpout://127.0.0.1:{port}")
    murl, purl = f"udpin://127.0.0.1:{port}", f"udpin:127.0.0.1:{port}"
    fast = ("--idle-time", "1.5")  # pymavlink: non-transfer ops end after idle-time
    try:
        for kind, url, ex in (("mavsdk", murl, ()), ("pymavlink", purl, fast)):
            case("list /", kind, url, ["list", "/"], "SUCCESS", extra=ex,
                 check=lambda o: (o.get("dirs") == ["sub"] and o.get("files") ==
                                  sorted(sizes) and all(o["sizes"][k] == v for k, v in sizes.items()),
                                  "listing matches"))
            case("list /sub (empty)", kind, url, ["list", "/sub"], "SUCCESS", extra=ex,
                 check=lambda o: (o.get("files") == [] and o.get("dirs") == [], "empty"))
            case("list /nope", kind, url, ["list", "/nope"], "FILE_DOES_NOT_EXIST", extra=ex)
            case("list /../ (outside root)", kind, url, ["list", "/../"], "PROTOCOL_ERROR",
                 extra=ex, note="jail: NAK Fail")

        # downloads
        for name, n in sizes.items():
            big = n > 4096
            for mode in ("plain", "burst"):
                d = os.path.join(dl, "m" + mode)
                case(f"download {name} {mode}", "mavsdk", murl,
                     ["download", "/" + name, d] + (["--burst"] if mode == "burst" else []),
                     "SUCCESS", timeout=60 if big else 20,
                     check=file_eq(os.path.join(root, name), os.path.join(d, name)))
            for chunk in (80, 239):
                d = os.path.join(dl, f"p{chunk}")
                stuck = n > 0 and n % chunk == 0
                case(f"download {name} burst-size {chunk}", "pymavlink", purl,
                     ["download", "/" + name, d, "--burst-size", str(chunk)],
                     "TIMEOUT" if stuck else "SUCCESS", timeout=10 if stuck else 90,
                     check=None if stuck else file_eq(os.path.join(root, name), os.path.join(d, name)),
                     note="§10.6: size multiple of chunk, EOF NAK offset 0 dropped" if stuck else "")
        case("download /nope", "mavsdk", murl, ["download", "/nope", dl], "FILE_DOES_NOT_EXIST")
        case("download /nope", "pymavlink", purl, ["download", "/nope", dl], "FILE_DOES_NOT_EXIST",
             extra=fast)

        # uploads
        for name, n in sizes.items():
            up = os.path.join(local, "u" + name)
            case(f"upload u{name}", "mavsdk", murl, ["upload", up, "/sub"], "SUCCESS",
                 timeout=60, check=file_eq(up, os.path.join(root, "sub", "u" + name)))
        for name, n in sizes.items():
            up = os.path.join(local, "u" + name)
            for ws in (80, 239):
                rname = f"p{ws}_u{name}"
                up2 = os.path.join(local, rname)
                shutil.copy(up, up2)
                if n == 0:
                    exp = ["SUCCESS", "PROTOCOL_ERROR"]
                    note = "pymavlink race: may terminate before the CreateFile ACK -> Fail"
                    chk = file_eq(up2, os.path.join(root, "sub", rname))
                elif n > ws:
                    exp, note, chk = "TIMEOUT", "§10.6: WriteFile ACK offset 0", None
                else:
                    exp, note, chk = "SUCCESS", "", file_eq(up2, os.path.join(root, "sub", rname))
                case(f"upload {rname} write-size {ws}", "pymavlink", purl,
                     ["upload", up2, "/sub", "--write-size", str(ws)], exp,
                     timeout=8 if exp == "TIMEOUT" else 30, note=note, check=chk,
                     extra=fast if n == 0 else ())
        case("upload missing local", "mavsdk", murl, ["upload", os.path.join(local, "nope"), "/"],
             "FILE_DOES_NOT_EXIST")
        case("upload into /nodir", "mavsdk", murl, ["upload", os.path.join(local, "uf1.bin"), "/nodir"],
             "PROTOCOL_ERROR", note="MAVSDK server NAKs CreateFile with Fail")
        case("upload into /nodir", "pymavlink", purl,
             ["upload", os.path.join(local, "uf1.bin"), "/nodir"], "PROTOCOL_ERROR", extra=fast)

        # cmp
        for kind, url, ex in (("mavsdk", murl, ()), ("pymavlink", purl, fast)):
            for name in sizes:
                case(f"cmp {name} (same)", kind, url,
                     ["cmp", os.path.join(root, name), "/" + name], "SUCCESS", extra=ex,
                     check=lambda o: (o.get("identical") is True, "identical"))
            case("cmp differing", kind, url,
                 ["cmp", os.path.join(local, "uf1.bin"), "/f240.bin"], "SUCCESS", extra=ex,
                 check=lambda o: (o.get("identical") is False, "not identical"))
            case("cmp /nope", kind, url, ["cmp", os.path.join(root, "f1.bin"), "/nope"],
                 "FILE_DOES_NOT_EXIST", extra=ex)

        # mkdir / rename / rmdir / rm
        for kind, url, ex in (("mavsdk", murl, ()), ("pymavlink", purl, fast)):
            dname = f"/d_{kind}"
            case(f"mkdir {dname}", kind, url, ["mkdir", dname], "SUCCESS", extra=ex,
                 check=lambda o, p=root + dname: (os.path.isdir(p), "dir exists"))
            case(f"mkdir {dname} again", kind, url, ["mkdir", dname], "FILE_EXISTS", extra=ex)
            case(f"rename {dname} -> {dname}2", kind, url, ["rename", dname, dname + "2"],
                 "SUCCESS", extra=ex,
                 check=lambda o, p=root + dname: (os.path.isdir(p + "2") and not os.path.exists(p), "renamed"))
            case("rename /nope", kind, url, ["rename", "/nope", "/x"], "FILE_DOES_NOT_EXIST", extra=ex)
            case("rmdir /sub (not empty)", kind, url, ["rmdir", "/sub"], "PROTOCOL_ERROR", extra=ex)
            case(f"rmdir {dname}2", kind, url, ["rmdir", dname + "2"], "SUCCESS", extra=ex,
                 check=lambda o, p=root + dname + "2": (not os.path.exists(p), "gone"))
            case("rmdir /nope", kind, url, ["rmdir", "/nope"], "FILE_DOES_NOT_EXIST", extra=ex)
            fname = f"/sub/uf1.bin" if kind == "mavsdk" else "/sub/p80_uf1.bin"
            case(f"rm {fname}", kind, url, ["rm", fname], "SUCCESS", extra=ex,
                 check=lambda o, p=root + fname: (not os.path.exists(p), "gone"))
            case(f"rm {fname} again", kind, url, ["rm", fname], "FILE_DOES_NOT_EXIST", extra=ex)
            case("rename file", kind, url, ["rename", "/f1.bin", f"/f1_{kind}.bin"], "SUCCESS",
                 extra=ex, check=lambda o, p=f"{root}/f1_{kind}.bin": (os.path.exists(p), "renamed"))
            case("rename file back", kind, url, ["rename", f"/f1_{kind}.bin", "/f1.bin"], "SUCCESS",
                 extra=ex)

        # the MAVSDK client can also talk with its own sysid/compid changed
        case("list / as 246/191", "mavsdk", murl, ["list", "/"], "SUCCESS",
             extra=("--own-sysid", "246", "--own-compid", "191"))
        # target compid 42 does not exist here
        case("list / target-compid 42 (absent)", "mavsdk", murl, ["list", "/"], "NO_SYSTEM",
             extra=("--target-compid", "42", "--discover-timeout", "3"))
    finally:
        rc, err = srv.stop()
        print(f"main server exit code {rc}", flush=True)

    # ---- server as sysid 7 / compid 42 ----
    port = free_udp_port()
    srv = Server(root, f"udpout://127.0.0.1:{port}", sysid=7, compid=42)
    try:
        case("list / server 7/42, target-compid 42", "mavsdk", f"udpin://127.0.0.1:{port}",
             ["list", "/"], "SUCCESS", extra=("--target-compid", "42"))
        case("first_autopilot vs server 7/42", "mavsdk", f"udpin://127.0.0.1:{port}",
             ["list", "/"], "NO_SYSTEM", extra=("--discover-timeout", "3"),
             note="first_autopilot() needs a compid-1 HEARTBEAT")
        case("list / server 7/42", "pymavlink", f"udpin:127.0.0.1:{port}", ["list", "/"],
             "SUCCESS", extra=fast + ("--target-compid", "42"))
    finally:
        srv.stop()

    # ---- listening server (udpin): the client has to speak first ----
    port = free_udp_port()
    srv = Server(root, f"udpin://127.0.0.1:{port}")
    try:
        case("list / vs listening server", "pymavlink", f"udpout:127.0.0.1:{port}", ["list", "/"],
             "SUCCESS", extra=fast, note="pymavlink client sends its HEARTBEAT first")
        case("list / vs listening server", "mavsdk", f"udpout://127.0.0.1:{port}", ["list", "/"],
             "SUCCESS", note="MAVSDK client on udpout sends its HEARTBEAT (245/190) at once")
    finally:
        srv.stop()

    # ---- ListDirectory of a regular file kills MAVSDK's 4.1.0 server ----
    for kind in ("mavsdk", "pymavlink"):
        port = free_udp_port()
        srv = Server(root, f"udpout://127.0.0.1:{port}")
        url = f"udpin://127.0.0.1:{port}" if kind == "mavsdk" else f"udpin:127.0.0.1:{port}"
        case("list /f240.bin (regular file)", kind, url, ["list", "/f240.bin"],
             ["HARNESS_TIMEOUT", "TIMEOUT", "PROTOCOL_ERROR"], timeout=8, extra=fast if kind == "pymavlink" else (),
             note="server process aborts (uncaught std::filesystem_error)")
        time.sleep(0.5)
        alive = srv.alive()
        rc, err = srv.stop()
        ok = (not alive) and rc == -6
        rows.append({"case": "server survives list of a file", "client": kind,
                     "result": f"server exit {rc}", "expected": "abort (-6)", "ok": ok,
                     "wall_s": 0, "note": "filesystem error: directory iterator" in err and
                     "terminate called ... filesystem_error" or err[-120:]})
        print(f"[{'ok ' if ok else 'BAD'}] server after list-of-file: alive={alive} rc={rc}", flush=True)

    npass = sum(1 for r in rows if r["ok"])
    nfail = len(rows) - npass
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    print(f"{npass} passed, {nfail} failed")
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
