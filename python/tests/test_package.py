"""The package as pip installed it: imported from the venv (not the source
tree), its own library bundled inside, the environment override, no
compiler at import time, nothing beyond the standard library."""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import sys
from pathlib import Path

import mavftp
from conftest import REPO, run_python


def test_imported_from_the_installed_package_not_the_source_tree():
    installed = Path(mavftp.__file__).resolve()
    assert Path(sys.prefix).resolve() in installed.parents, installed
    assert (REPO / "python") not in installed.parents
    assert "site-packages" in installed.parts


def test_the_bundled_library_is_loaded_from_inside_the_package():
    lib = Path(mavftp.LIBRARY_PATH)
    assert lib.parent == Path(mavftp.__file__).resolve().parent
    assert lib.name == "libmavftp.so"
    # Installed without its debug info (the repository's release build keeps it).
    assert lib.stat().st_size < 4_000_000


def test_versions_agree():
    assert mavftp.__version__ == importlib.metadata.version("mavftp") == mavftp.library_version()


def test_typed_and_standard_library_only():
    assert (Path(mavftp.__file__).parent / "py.typed").exists()
    assert not importlib.metadata.requires("mavftp")


def test_mavftp_library_environment_variable_overrides_the_bundled_copy(tmp_path):
    copy = tmp_path / "libmavftp-system.so"
    shutil.copyfile(mavftp.LIBRARY_PATH, copy)
    out = run_python(["-c", "import mavftp; print(mavftp.LIBRARY_PATH)"], env={"MAVFTP_LIBRARY": str(copy)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == str(copy)
    missing = tmp_path / "nowhere" / "libmavftp.so"
    out = run_python(["-c", "import mavftp"], env={"MAVFTP_LIBRARY": str(missing)})
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "ImportError" in err and "MAVFTP_LIBRARY" in err and str(missing) in err


def test_no_compiler_or_cargo_needed_to_import_and_use(tmp_path):
    code = ("import mavftp, mavftp.sync, tempfile; "
            "s = mavftp.Server(tempfile.mkdtemp(), 'udpin://127.0.0.1:0'); s.close(); print('ok')")
    out = run_python(["-c", code], env={"PATH": str(tmp_path), "CARGO": "/nonexistent"})
    assert (out.returncode, out.stdout.decode().strip()) == (0, "ok"), out.stderr


def test_sources_are_python_3_9_syntax():
    for path in sorted(Path(mavftp.__file__).parent.glob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
