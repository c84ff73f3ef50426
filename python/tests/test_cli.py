"""python -m mavftp: every command against our server, the progress bar,
exit codes, Ctrl-C, and `serve` answering another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import big_sparse_file, data, files_in, free_udp_port, run_python


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_python(["-m", "mavftp", *args], timeout=timeout)


def test_every_command_against_our_server(our_server, tmp_path):
    root, url = our_server.root, our_server.client_url
    content = data(300_000, 8)
    (root / "log.bin").write_bytes(content)
    (root / "sub").mkdir()
    local = tmp_path / "dl"
    local.mkdir()

    out = cli("ls", url, "/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines() == ["log.bin", "sub/"]
    out = cli("ls", url, "/", "-l")
    rows = out.stdout.decode().splitlines()
    assert rows[0].startswith("-") and rows[0].split()[1] == "300000" and rows[0].endswith(" log.bin")
    assert rows[1].startswith("d") and rows[1].endswith(" sub")

    out = cli("get", url, "/log.bin", str(local), "--burst", "-q")
    assert out.returncode == 0, out.stderr
    assert (local / "log.bin").read_bytes() == content

    up = tmp_path / "up.bin"
    up.write_bytes(data(5000, 9))
    assert cli("put", url, str(up), "/sub", "-q").returncode == 0
    assert (root / "sub" / "up.bin").read_bytes() == up.read_bytes()

    out = cli("cmp", url, str(up), "/sub/up.bin")
    assert (out.returncode, out.stdout.decode()) == (0, "identical\n")
    out = cli("cmp", url, str(local / "log.bin"), "/sub/up.bin")
    assert (out.returncode, out.stdout.decode()) == (3, "different\n")

    assert cli("mkdir", url, "/newdir").returncode == 0
    assert (root / "newdir").is_dir()
    assert cli("mv", url, "/sub/up.bin", "/newdir/moved.bin").returncode == 0
    assert (root / "newdir" / "moved.bin").exists() and not (root / "sub" / "up.bin").exists()
    assert cli("rm", url, "/newdir/moved.bin").returncode == 0
    assert cli("rmdir", url, "/newdir").returncode == 0
    assert sorted(p.name for p in root.iterdir()) == ["log.bin", "sub"]


def test_get_draws_a_progress_bar(our_server, local_dir):
    (our_server.root / "f.bin").write_bytes(data(1 << 20, 2))
    out = cli("get", our_server.client_url, "/f.bin", str(local_dir), "--progress")
    assert out.returncode == 0, out.stderr
    err = out.stderr.decode()
    assert "\r" in err and "100%" in err and "#" * 30 in err and "1.0 MB / 1.0 MB" in err
    assert (local_dir / "f.bin").read_bytes() == data(1 << 20, 2)


def test_failures_exit_1_with_the_result_and_the_reason(our_server, local_dir):
    out = cli("get", our_server.client_url, "/missing.bin", str(local_dir))
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "FILE_DOES_NOT_EXIST" in err and "/missing.bin" in err
    assert files_in(local_dir) == []
    out = cli("ls", f"udpout://127.0.0.1:{free_udp_port()}", "/", "--wait", "0.3")
    assert out.returncode == 1 and "NO_SYSTEM" in out.stderr.decode()
    out = cli("ls", "nonsense://", "/")
    assert out.returncode == 1 and "INVALID_PARAMETER" in out.stderr.decode()
    assert cli("frobnicate", "udpin://:1").returncode == 2


def test_ctrl_c_cancels_a_download_and_leaves_no_file(our_server, local_dir):
    big_sparse_file(our_server.root / "big.bin", 256 << 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mavftp", "get", our_server.client_url, "/big.bin", str(local_dir), "--progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = b""
    while b"%" not in seen:  # the bar is drawn: the transfer runs
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, f"exited early: {proc.wait()}"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 130, (seen + rest).decode()
    assert b"interrupted" in rest
    assert files_in(local_dir) == []


def test_serve_answers_another_process_until_ctrl_c(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello\n")
    port = free_udp_port()
    server = subprocess.Popen([sys.executable, "-m", "mavftp", "serve", f"udpin://127.0.0.1:{port}", str(root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().decode().startswith("serving ")
        out = cli("ls", f"udpout://127.0.0.1:{port}", "/")
        assert (out.returncode, out.stdout.decode()) == (0, "hello.txt\n"), out.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0
