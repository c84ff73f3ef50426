#!/usr/bin/env python3
"""A MAVLink 2 signing peer built on pymavlink's (2.4.50) own signing code.

    pymavlink_signing_relay.py --signed-url URL --plain-url URL --key HEX64
                               [--link-id N] [--timeout S]

Relays between a signed side and an unsigned side, both pymavlink connections:

  * signed side (--signed-url, e.g. "udpin:127.0.0.1:P" where OUR signing client
    sends): mavutil's setup_signing(key, sign_outgoing=True, link_id=N) with no
    allow_unsigned_callback, so pymavlink itself checks every incoming frame's
    signature and timestamp and drops (counts) the rest;
  * plain side (--plain-url, e.g. "udpout:127.0.0.1:Q" where our unsigned
    server listens): no signing.

Every message pymavlink accepts on one side is re-packed by pymavlink and sent
on the other with the original sender's system and component ids (so the FTP
addressing is unchanged); on the signed side pymavlink signs what it re-packs.
Our client on the signed side therefore verifies pymavlink's signatures, and
pymavlink verifies our client's.

Prints "READY <signed-side port>" once both connections are open (the port is
the one it listens on for udpin), then runs until stdin closes or --timeout
passes, and prints one JSON line: pymavlink's signing counters of the signed
side (sig_count, goodsig_count, badsig_count, unsigned_count, reject_count) and
how many messages (FTP ones separately) went each way. Exit code 0; 2 on
harness errors.
"""

import argparse
import json
import os
import select
import sys
import threading
import time

os.environ.setdefault("MAVLINK20", "1")

FTP_ID = 110


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signed-url", required=True)
    ap.add_argument("--plain-url", required=True)
    ap.add_argument("--key", required=True, help="64 hex digits")
    ap.add_argument("--link-id", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    key = bytes.fromhex(a.key)
    if len(key) != 32:
        ap.error("--key must be 32 bytes")

    from pymavlink import mavutil

    # The relay's own ids never appear: every message keeps its sender's ids.
    signed = mavutil.mavlink_connection(a.signed_url, source_system=200, source_component=200)
    plain = mavutil.mavlink_connection(a.plain_url, source_system=200, source_component=200)
    signed.setup_signing(key, sign_outgoing=True, allow_unsigned_callback=None, link_id=a.link_id)

    counts = {"to_plain": 0, "to_plain_ftp": 0, "to_signed": 0, "to_signed_ftp": 0}
    stop = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.read(1):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    port = signed.port.getsockname()[1]
    print(f"READY {port}", flush=True)

    def forward(src, dst, key_all, key_ftp):
        while True:
            m = src.recv_msg()
            if m is None:
                return
            if m.get_type() == "BAD_DATA":
                continue  # refused by pymavlink (bad signature, unsigned, CRC)
            dst.mav.srcSystem = m.get_srcSystem()
            dst.mav.srcComponent = m.get_srcComponent()
            dst.mav.send(m)
            counts[key_all] += 1
            if m.get_msgId() == FTP_ID:
                counts[key_ftp] += 1

    deadline = time.monotonic() + a.timeout
    next_heartbeat = 0.0
    while not stop.is_set() and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_heartbeat:
            # Our own GCS heartbeat on the plain side, so that the server's
            # udpin link learns us even when nothing from the signed side
            # passes pymavlink's check.
            plain.mav.srcSystem, plain.mav.srcComponent = 200, 200
            plain.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS,
                                     mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            next_heartbeat = now + 1.0
        r, _, _ = select.select([signed.fd, plain.fd], [], [], 0.1)
        if signed.fd in r:
            forward(signed, plain, "to_plain", "to_plain_ftp")
        if plain.fd in r:
            forward(plain, signed, "to_signed", "to_signed_ftp")

    sg = signed.mav.signing
    out = dict(counts)
    out.update(
        sig_count=sg.sig_count,
        goodsig_count=sg.goodsig_count,
        badsig_count=sg.badsig_count,
        unsigned_count=sg.unsigned_count,
        reject_count=sg.reject_count,
        timed_out=not stop.is_set(),
    )
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:  # noqa: BLE001
        sys.stdout.write(json.dumps({"result": "HARNESS_ERROR", "error": f"{type(e).__name__}: {e}"}) + "\n")
        sys.stdout.flush()
        os._exit(2)
