//! The C API driven from Python through ctypes (tests/python_ctypes/), with
//! the system python3 and the libmavftp.so cargo built.

use std::path::Path;
use std::process::Command;

mod cdylib_support;
use cdylib_support::lib_dir;

#[test]
fn python_ctypes_every_operation() {
    let lib = lib_dir().join("libmavftp.so");
    assert!(
        Command::new("python3").arg("--version").output().is_ok(),
        "python3 is required for the ctypes test (.ci/run installs it)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_ctypes/test_ctypes.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("-v")
        .env("MAVFTP_LIB", &lib)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "ctypes test failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
