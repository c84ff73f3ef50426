//! The Python package as a user gets it: `pip install <repository>` into a
//! fresh venv (setup.py runs `cargo build --release --lib` and bundles the
//! library inside the package), then its pytest suite (python/tests) in that
//! venv: every operation through the asyncio API and mavftp.sync against our
//! embedded server and MAVSDK 4.1's FtpServer (the interop venv runs it),
//! the MAVSDK-style example script, error mapping, cancellation, exit with a
//! transfer in flight, the CLI and the C ABI through ctypes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../common/venv.rs"]
mod venv;
use venv::{repo, venv_python};

/// The cargo target directory this test binary was built in (target/), so
/// that pip's cargo build reuses what `cargo test --release` compiled.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Runs `cmd` to completion within `limit`; panics with its output otherwise.
fn run(what: &str, cmd: &mut Command, limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    // Drain the pipes while waiting so that a chatty child cannot block.
    let out_pipe = child.stdout.take().expect("stdout");
    let err_pipe = child.stderr.take().expect("stderr");
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out_reader = read_all(Box::new(out_pipe));
    let err_reader = read_all(Box::new(err_pipe));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "{what}: still running after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    assert!(
        output.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{what}: {:.1} s", start.elapsed().as_secs_f64());
    output
}

fn pip(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "install", "--disable-pip-version-check"]);
    cmd
}

#[test]
fn python_package_pip_installed_into_a_fresh_venv_passes_its_pytest_suite() {
    // MAVSDK 4.1's FtpServer runs in the interop venv (mavsdk==4.1.0).
    let interop = venv_python();
    let target = target_dir();
    let venv = target.join("python-package-venv");
    if venv.exists() {
        std::fs::remove_dir_all(&venv).expect("remove the previous venv");
    }
    run(
        "python3 -m venv",
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        Duration::from_secs(300),
    );
    let python = venv.join("bin/python");
    run(
        "pip install <repository>",
        pip(&python)
            .arg(repo())
            .env("CARGO", env!("CARGO"))
            .env("CARGO_TARGET_DIR", &target),
        Duration::from_secs(1800),
    );
    run(
        "pip install pytest",
        pip(&python).arg("pytest"),
        Duration::from_secs(600),
    );
    let out = run(
        "pytest python/tests",
        Command::new(&python)
            .args(["-m", "pytest", "python/tests", "-p", "no:cacheprovider"])
            .args(["-q", "-rfE", "--durations=5"])
            .current_dir(repo())
            .env("MAVFTP_INTEROP_PYTHON", interop)
            .env("MAVFTP_REPO", repo())
            .env_remove("MAVFTP_LIBRARY"),
        Duration::from_secs(1800),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("pytest: {summary}");
    assert!(
        summary.contains(" passed") && !summary.contains("failed") && !summary.contains("skipped"),
        "unexpected pytest summary: {summary}"
    );
}
