//! Where the C-ABI tests find libmavftp.so: next to the running test binary,
//! in target/<profile>/deps, where `cargo test` built the crate's cdylib
//! together with the rlib the tests link (one compilation: the crate type
//! list of Cargo.toml). Running `cargo build --lib` here instead would build
//! another copy without the dev-dependencies' features (tempfile switches on
//! bitflags/std under mavlink), which overwrites this one's files and makes
//! the next `cargo test` compile the crate and every test binary again. The
//! library's SONAME is libmavftp.so.<major> (build.rs), so the directory
//! also gets that name as a symlink for programs linked against it.

use std::path::PathBuf;

/// target/<profile>/deps, holding the libmavftp.so of this `cargo test`.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    assert!(
        dir.join("libmavftp.so").exists(),
        "no libmavftp.so next to the test binary in {}",
        dir.display()
    );
    static LINKED: std::sync::Once = std::sync::Once::new();
    LINKED.call_once(|| {
        let soname = dir.join(concat!("libmavftp.so.", env!("CARGO_PKG_VERSION_MAJOR")));
        if std::fs::symlink_metadata(&soname).is_err() {
            std::os::unix::fs::symlink("libmavftp.so", &soname)
                .expect("symlink libmavftp.so.<major>");
        }
    });
    dir
}
