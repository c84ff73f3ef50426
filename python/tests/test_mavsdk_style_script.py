"""python/examples/ftp_mavsdk_style.py is a MAVSDK-Python script with only its
import and connect lines changed; it runs unchanged against our server and
against MAVSDK 4.1's FtpServer."""

from __future__ import annotations

import pytest

from conftest import REPO, data, make_server, run_python

SCRIPT = REPO / "python" / "examples" / "ftp_mavsdk_style.py"


def test_only_the_import_and_connect_lines_name_mavftp():
    marked, others = [], []
    for line in SCRIPT.read_text().splitlines():
        (marked if "# mavftp:" in line else others).append(line)
    code = [line for line in others if line.strip() and not line.lstrip().startswith("#")]
    body = "\n".join(code)
    assert len(marked) == 3, marked  # two imports and the connect call
    assert [m.split("# mavftp:")[1].strip() for m in marked] == [
        "from mavsdk import System",
        "from mavsdk.ftp import FtpError",
        'await drone.connect(system_address="udp://:14540")',
    ]
    # The docstring aside, nothing else in the code mentions mavftp.
    assert "mavftp" not in body.split('"""', 2)[2]


@pytest.mark.parametrize("kind", ["ours", "mavsdk"])
def test_the_mavsdk_style_script_runs_against_both_servers(kind, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    params = data(100_000, 4)
    (root / "params.bin").write_bytes(params)
    (root / "logs").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    server = make_server(kind, root)
    try:
        out = run_python([str(SCRIPT), server.client_url, str(work), "/params.bin"], timeout=120)
    finally:
        server.close()
    stdout, stderr = out.stdout.decode(), out.stderr.decode()
    assert out.returncode == 0, stdout + stderr
    lines = stdout.splitlines()
    assert "-- Connected to drone!" in lines
    assert "directories: ['logs']" in lines and "files: ['params.bin']" in lines
    assert "Got 100000 of 100000 bytes" in lines
    assert (work / "params.bin").read_bytes() == params
    assert "Sent 6600 of 6600 bytes" in lines
    assert "Files identical: True" in lines
    assert "after rename: ['renamed.txt']" in lines
    assert "Download failed: FILE_DOES_NOT_EXIST" in lines
    assert lines[-1] == "-- Done"
    assert sorted(p.name for p in root.iterdir()) == ["logs", "params.bin"]
