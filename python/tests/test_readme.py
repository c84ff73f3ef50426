"""The README's Python examples run as printed (only their address is
pointed at a test server)."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, data, run_python

README = (REPO / "README.md").read_text()
SECTION = README.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def test_the_readme_has_an_async_and_a_sync_example():
    assert len(EXAMPLES) == 2
    assert "asyncio.run(run())" in EXAMPLES[0] and "from mavftp.sync import System" in EXAMPLES[1]
    assert len(EXAMPLES[0].strip().splitlines()) <= 15


@pytest.mark.parametrize("index", [0, 1], ids=["async", "sync"])
def test_readme_example_runs(our_server, tmp_path, index):
    (our_server.root / "fs" / "microsd" / "log" / "2026-12-01").mkdir(parents=True)
    (our_server.root / "fs" / "microsd" / "params").write_bytes(data(20_000, 3))
    code = re.sub(r'system_address="[^"]+"', f'system_address="{our_server.client_url}"', EXAMPLES[index])
    out = run_python(["-c", code], cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert (tmp_path / "params").read_bytes() == data(20_000, 3)
    assert "20000" in out.stdout.decode()
