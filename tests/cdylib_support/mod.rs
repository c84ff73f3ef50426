//! Where the C-ABI tests find libmavftp.so: the target/<profile> directory of
//! the running test binary, with the cdylib (re)built there once per test
//! process (cargo test builds only the rlib, so the .so could be missing or
//! stale). The library's SONAME is libmavftp.so.<major> (build.rs), so the
//! directory also gets that name as a symlink for programs linked against it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// target/<profile>, holding a fresh libmavftp.so.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut args = vec!["build", "--lib", "-j2"];
        if dir.file_name().is_some_and(|name| name == "release") {
            args.push("--release");
        }
        let status = Command::new(env!("CARGO"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", dir.parent().expect("target dir"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the cdylib failed");
        let soname = dir.join(concat!("libmavftp.so.", env!("CARGO_PKG_VERSION_MAJOR")));
        if std::fs::symlink_metadata(&soname).is_err() {
            std::os::unix::fs::symlink("libmavftp.so", &soname)
                .expect("symlink libmavftp.so.<major>");
        }
    });
    assert!(
        dir.join("libmavftp.so").exists(),
        "no libmavftp.so in {}",
        dir.display()
    );
    dir
}
