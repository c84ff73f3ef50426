//! Building and running the C programs (tests/c/, examples-c/) from Rust
//! tests: strict compilation against include/mavftp.h and the fresh cdylib,
//! runs with a time limit, and a guard that kills a background process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cdylib::lib_dir;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compile C sources with -Wall -Wextra -Wpedantic -Werror into `out`,
/// linked with the release (or debug) cdylib.
pub fn compile(sources: &[&str], out: &Path) {
    compile_with(sources, out, &[], &lib_dir());
}

/// [`compile`] with extra compiler flags and another library directory.
pub fn compile_with(sources: &[&str], out: &Path, extra_flags: &[&str], lib: &Path) {
    let output = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-g",
        ])
        .args(extra_flags)
        .arg(format!("-I{}", root().join("include").display()))
        .args(sources.iter().map(|s| root().join(s)))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .args(["-lmavftp", "-lpthread"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run with a time limit; returns the output. Both pipes are read while it
/// runs (a chatty program never stalls on a full pipe); past the limit it is
/// killed and the test fails with what it printed.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_hinted(cmd, limit, "")
}

/// [`run`], with `hint` after the error when the program cannot be started
/// (what to install).
pub fn run_hinted(cmd: &mut Command, limit: Duration, hint: &str) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}{hint}"));
    let start = Instant::now();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "timed out after {limit:?}: {what}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out_thread.join().unwrap_or_default()),
                String::from_utf8_lossy(&err_thread.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// Panic with both output streams unless the program exited 0; returns its stdout.
pub fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills a background process when the test ends, however it ends.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    crate::port::free_udp_port().expect("bind an ephemeral port")
}

/// The examples-c CLI, built into `dir`.
pub fn build_cli(dir: &Path) -> PathBuf {
    let exe = dir.join("mavftp");
    compile(&["examples-c/mavftp.c"], &exe);
    exe
}
