//! The C API driven from Python through ctypes (tests/python_ctypes/), with
//! the system python3 and the libmavftp.so cargo built.

use std::path::Path;
use std::process::Command;

#[test]
fn python_ctypes_every_operation() {
    let exe = std::env::current_exe().expect("current_exe");
    let lib_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let lib = lib_dir.join("libmavftp.so");
    // (Re)build the cdylib into this target dir: cargo test builds only the
    // rlib, so the .so could be missing or stale.
    let mut args = vec!["build", "--lib", "-j2"];
    if lib_dir.file_name().is_some_and(|name| name == "release") {
        args.push("--release");
    }
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", lib_dir.parent().expect("target dir"))
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build of the cdylib failed");
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
