"""Build step of the Python package: compile the Rust library with cargo and
put it inside the package (python/mavftp/), where mavftp._native loads it.

Everything else is declared in pyproject.toml. Environment:
  CARGO             the cargo to run (default: `cargo` on PATH, then ~/.cargo/bin/cargo)
  CARGO_TARGET_DIR  honoured by cargo as usual (reuse an existing build)
The command is exactly `cargo build --release --lib`, the one the rest of the
repository uses, so an existing release build is reused as it is.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent
LIB_NAMES = {"linux": "libmavftp.so", "darwin": "libmavftp.dylib", "win32": "mavftp.dll"}


def crate_version() -> str:
    """The package version is the crate's (one source of truth: Cargo.toml)."""
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', package, re.MULTILINE)
    if not found:
        raise RuntimeError("no version in Cargo.toml's [package] table")
    return found.group(1)


def find_cargo() -> str:
    for candidate in (os.environ.get("CARGO"), shutil.which("cargo"),
                      str(Path.home() / ".cargo" / "bin" / "cargo")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(
        "building mavftp needs Rust's cargo (rustup installs it); none found on PATH, "
        "in $CARGO or in ~/.cargo/bin"
    )


def build_cdylib() -> Path:
    """Run cargo and return the path of the shared library it produced."""
    cmd = [find_cargo(), "build", "--release", "--lib",
           "--message-format=json-render-diagnostics",
           "--manifest-path", str(ROOT / "Cargo.toml")]
    print("mavftp: " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"cargo build failed (exit {proc.returncode}); see the messages above")
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and "cdylib" in msg.get("target", {}).get("kind", []):
            for name in msg.get("filenames", []):
                if Path(name).suffix in (".so", ".dylib", ".dll"):
                    return Path(name)
    raise RuntimeError("cargo reported no cdylib for the mavftp crate")


class BuildPyWithRust(build_py):
    """build_py, then cargo: the library lands in the built package."""

    def run(self) -> None:
        super().run()
        built = build_cdylib()
        name = LIB_NAMES.get(sys.platform, built.name)
        dest = Path(self.build_lib) / "mavftp" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, dest)
        # The release profile keeps debug info for the repository's own tools;
        # the installed copy does not need it (9.8 MB -> about 1 MB).
        strip = shutil.which("strip")
        if strip and sys.platform.startswith("linux"):
            subprocess.run([strip, "--strip-debug", str(dest)], check=False)
        os.chmod(dest, 0o755)


class PlatformWheel(bdist_wheel):
    """The wheel holds a native library but no CPython extension: any Python 3
    on this platform can load it (py3-none-<platform>)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True


setup(
    version=crate_version(),
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithRust, "bdist_wheel": PlatformWheel},
)
