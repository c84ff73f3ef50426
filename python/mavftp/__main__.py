"""Command-line MAVLink FTP client (and server): ``python -m mavftp COMMAND URL ...``.

    python -m mavftp ls    udpin://0.0.0.0:14540 /fs/microsd -l
    python -m mavftp get   udpin://0.0.0.0:14540 /fs/microsd/log/log1.ulg ./logs --burst
    python -m mavftp put   udpout://127.0.0.1:14540 mission.plan /fs/microsd
    python -m mavftp mkdir|rmdir|rm URL REMOTE_PATH
    python -m mavftp mv    URL REMOTE_FROM REMOTE_TO
    python -m mavftp cmp   URL LOCAL_FILE REMOTE_FILE
    python -m mavftp serve udpin://0.0.0.0:14540 ./vehicle-root [--read-only]

Exit status: 0 done, 1 the operation failed (the reason on stderr), 2 bad
usage, 3 ``cmp`` found the files different, 130 interrupted (Ctrl-C; a
partial download is removed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, TextIO

from .ftp import FtpError, ProgressData
from .server import Server
from .sync import System

EXIT_FAILED = 1
EXIT_DIFFERENT = 3
EXIT_INTERRUPTED = 130


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class ProgressBar:
    """A one-line progress bar on a terminal (redrawn with \\r, at most 10
    times a second); when ``live`` is false, only the final line is printed."""

    WIDTH = 30

    def __init__(self, label: str, stream: TextIO, live: bool) -> None:
        self.label = label
        self.stream = stream
        self.live = live
        self.start = time.monotonic()
        self.drawn = 0.0
        self.last: Optional[ProgressData] = None

    def update(self, p: ProgressData) -> None:
        self.last = p
        now = time.monotonic()
        if self.live and (now - self.drawn >= 0.1 or p.bytes_transferred == p.total_bytes):
            self.drawn = now
            self.stream.write("\r" + self._line(p))
            self.stream.flush()

    def _line(self, p: ProgressData) -> str:
        total = p.total_bytes
        fraction = min(1.0, p.bytes_transferred / total) if total else 0.0
        filled = int(fraction * self.WIDTH)
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = p.bytes_transferred / elapsed
        return (f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:3.0f}% "
                f"{_size(p.bytes_transferred)} / {_size(total)} {_size(rate)}/s ")

    def done(self, size: int) -> None:
        final = ProgressData(size, size)
        self.stream.write(("\r" if self.live else "") + self._line(final) + "\n")
        self.stream.flush()


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("connection")
    g.add_argument("--target-system", type=int, default=0, metavar="ID",
                   help="vehicle system id (default 0: the first system heard)")
    g.add_argument("--target-component", type=int, default=1, metavar="ID",
                   help="component that serves FTP (default 1, the autopilot)")
    g.add_argument("--sysid", type=int, default=245, metavar="ID", help="our system id (default 245)")
    g.add_argument("--compid", type=int, default=190, metavar="ID", help="our component id (default 190)")
    g.add_argument("--wait", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the vehicle to be heard (default 10)")
    g.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="reply timeout per request (default 0.5, adapts to the link)")
    g.add_argument("--retries", type=int, default=10, metavar="N", help="retries before TIMEOUT (default 10)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g.add_argument("--progress", action="store_true",
                   help="redraw the progress bar even when stderr is not a terminal")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mavftp",
        description="MAVLink FTP client: list, download, upload and manage files on a vehicle "
                    "(URL: udpin://HOST:PORT, udpout://HOST:PORT, tcpin://…, tcpout://…, serial:///dev/ttyX:BAUD).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("url", metavar="URL", help="connection URL")
        if name != "serve":
            _common(p)
        return p

    p = add("ls", "list a remote directory")
    p.add_argument("remote_dir", nargs="?", default="/", metavar="REMOTE_DIR")
    p.add_argument("-l", "--long", action="store_true", help="show type, size and modification time")
    p = add("get", "download a remote file into a local directory")
    p.add_argument("remote_file", metavar="REMOTE_FILE")
    p.add_argument("local_dir", nargs="?", default=".", metavar="LOCAL_DIR")
    p.add_argument("--burst", action="store_true", help="use burst reads")
    p = add("put", "upload a local file into a remote directory")
    p.add_argument("local_file", metavar="LOCAL_FILE")
    p.add_argument("remote_dir", nargs="?", default="/", metavar="REMOTE_DIR")
    for name, help_text in (("mkdir", "create a remote directory"),
                            ("rmdir", "remove an empty remote directory"),
                            ("rm", "remove a remote file")):
        p = add(name, help_text)
        p.add_argument("remote_path", metavar="REMOTE_PATH")
    p = add("mv", "rename a remote file or directory")
    p.add_argument("remote_from", metavar="REMOTE_FROM")
    p.add_argument("remote_to", metavar="REMOTE_TO")
    p = add("cmp", "compare a local and a remote file (CRC32); exit 3 when they differ")
    p.add_argument("local_file", metavar="LOCAL_FILE")
    p.add_argument("remote_file", metavar="REMOTE_FILE")
    p = add("serve", "serve a local directory as a vehicle would, until Ctrl-C")
    p.add_argument("root_dir", metavar="ROOT_DIR")
    p.add_argument("--read-only", action="store_true", help="refuse every change")
    p.add_argument("--sysid", type=int, default=1, metavar="ID", help="our system id (default 1)")
    p.add_argument("--compid", type=int, default=1, metavar="ID", help="our component id (default 1)")
    return parser


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    with Server(args.root_dir, args.url, sysid=args.sysid, compid=args.compid, read_only=args.read_only):
        out.write(f"serving {os.path.abspath(args.root_dir)} on {args.url} "
                  f"(system {args.sysid}, component {args.compid}); Ctrl-C stops\n")
        out.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "serve":
        return _serve(args, out)
    drone = System(sysid=args.sysid, compid=args.compid)
    try:
        drone.connect(args.url, target_system=args.target_system, target_component=args.target_component,
                      timeout=args.wait)
        ftp = drone.ftp
        if args.timeout is not None:
            ftp.set_timeout(args.timeout, args.retries)
        live = not args.quiet and (args.progress or err.isatty())
        if args.command == "ls":
            listing = ftp.list_directory(args.remote_dir)
            for e in listing.entries:
                if not args.long:
                    out.write(e.name + ("/" if e.is_dir else "") + "\n")
                    continue
                when = e.modification_time
                stamp = when.strftime("%Y-%m-%d %H:%M:%S") if when else "-" * 19
                shown = "-" if e.is_dir else str(e.size_bytes)
                out.write(f"{'d' if e.is_dir else '-'} {shown:>12} {stamp} {e.name}\n")
        elif args.command == "get":
            bar = ProgressBar(os.path.basename(args.remote_file), err, live)
            ftp.download(args.remote_file, args.local_dir, args.burst, progress=bar.update)
            if not args.quiet:
                bar.done(os.path.getsize(os.path.join(args.local_dir, os.path.basename(args.remote_file))))
        elif args.command == "put":
            bar = ProgressBar(os.path.basename(args.local_file), err, live)
            ftp.upload(args.local_file, args.remote_dir, progress=bar.update)
            if not args.quiet:
                bar.done(os.path.getsize(args.local_file))
        elif args.command == "mkdir":
            ftp.create_directory(args.remote_path)
        elif args.command == "rmdir":
            ftp.remove_directory(args.remote_path)
        elif args.command == "rm":
            ftp.remove_file(args.remote_path)
        elif args.command == "mv":
            ftp.rename(args.remote_from, args.remote_to)
        elif args.command == "cmp":
            same = ftp.are_files_identical(args.local_file, args.remote_file)
            out.write("identical\n" if same else "different\n")
            return 0 if same else EXIT_DIFFERENT
        return 0
    finally:
        drone.close()


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # A live progress bar leaves the cursor at the end of its line.
    eol = "\n" if args.command in ("get", "put") and not args.quiet and (
        args.progress or sys.stderr.isatty()) else ""
    try:
        return _run(args, sys.stdout, sys.stderr)
    except FtpError as e:
        sys.stderr.write(f"{eol}mavftp: {e.result}: {e._result.result_str}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write(f"{eol}mavftp: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
