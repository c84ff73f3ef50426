//! Gives libmavftp.so its SONAME, `libmavftp.so.<major>`, as an installed C
//! library needs (packaging/install.sh installs it as
//! `libmavftp.so.<major>.<minor>.<patch>` with the two usual symlinks).
//! Programs linked against the build tree therefore look for
//! `libmavftp.so.0` at run time: tests/c_abi/cdylib.rs and examples-c/Makefile
//! add that symlink next to target/<profile>/libmavftp.so.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos"
    );
    if elf {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmavftp.so.{major}");
    }
}
