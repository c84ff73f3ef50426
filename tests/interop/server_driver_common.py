"""What the MAVSDK FtpServer drivers (mavsdk_ftp_server.py for 4.1,
mavsdk3_ftp_server.py for 3.17.4) share: the check of their root and ids, and
a stop event set by SIGTERM, SIGINT or EOF on stdin. Standard library only:
each driver runs in its own venv."""

import os
import signal
import sys
import threading


def checked_root(ap, a):
    """The absolute root directory; exits through `ap.error` on bad ids or root."""
    if not (1 <= a.sysid <= 255 and 1 <= a.compid <= 255):
        ap.error("--sysid and --compid must be in 1..255")
    root = os.path.abspath(a.root)
    if not os.path.isdir(root):
        ap.error(f"--root {root} is not a directory")
    return root


def stop_on_signals():
    """(stop, why): an event SIGTERM and SIGINT set, and a one-item list
    naming what set it ("lifetime" until something does)."""
    stop = threading.Event()
    why = ["lifetime"]

    def on_signal(signum, _frame):
        why[0] = signal.Signals(signum).name
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop, why


def stop_on_stdin_eof(stop, why):
    """Set `stop` (why: "stdin EOF") once stdin reaches its end."""

    def watch_stdin():
        try:
            while sys.stdin.buffer.read1(4096):
                pass
        except (OSError, ValueError):
            pass
        why[0] = "stdin EOF"
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
