//! The C API driven from C: programs under tests/c/ and examples-c/ are
//! compiled with strict warnings against include/mavftp.h, linked with the
//! cdylib, and run.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{Reap, assert_ok, build_cli, compile, compile_with, free_udp_port, root, run};

#[test]
fn c_argument_checks_result_strings_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("api_test");
    compile(&["tests/c/api_test.c"], &exe);
    let out = run(Command::new(&exe).arg("args"), Duration::from_secs(30));
    assert_ok(&out, "api_test args");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));
}

#[test]
fn c_every_operation_blocking_and_async_over_custom_and_udp_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("api_test");
    compile(&["tests/c/api_test.c"], &exe);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir work");
    let out = run(
        Command::new(&exe).arg("e2e").arg(&work),
        Duration::from_secs(240),
    );
    assert_ok(&out, "api_test e2e");
}

/// valgrind's memcheck on `api_test <mode>`: any error (invalid access,
/// uninitialised value, definite leak) fails with exit code 1.
fn run_under_valgrind(exe: &std::path::Path, args: &[&std::ffi::OsStr], limit: Duration) -> Output {
    run(
        Command::new("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite",
                "-q",
            ])
            .arg(exe)
            .args(args),
        limit,
    )
}

fn valgrind_installed() -> bool {
    Command::new("valgrind").arg("--version").output().is_ok()
}

#[test]
fn c_argument_checks_clean_under_valgrind() {
    if !valgrind_installed() {
        println!("note: valgrind is not installed; skipping (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("api_test");
    compile(&["tests/c/api_test.c"], &exe);
    let out = run_under_valgrind(&exe, &["args".as_ref()], Duration::from_secs(180));
    assert_ok(&out, "valgrind api_test args");
}

/// The whole C suite (argument checks and every operation over custom and
/// UDP links) under valgrind. Slow, so `cargo test` skips it; .ci/run runs it.
#[test]
#[ignore = "slow (several minutes under valgrind); .ci/run runs it"]
fn c_suite_clean_under_valgrind() {
    assert!(valgrind_installed(), "valgrind is not installed");
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("api_test");
    compile(&["tests/c/api_test.c"], &exe);
    let out = run_under_valgrind(&exe, &["args".as_ref()], Duration::from_secs(300));
    assert_ok(&out, "valgrind api_test args");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir work");
    let out = run_under_valgrind(
        &exe,
        &["e2e".as_ref(), work.as_os_str()],
        Duration::from_secs(1800),
    );
    assert_ok(&out, "valgrind api_test e2e");
}

/// The library built by the nightly toolchain with `-Zsanitizer=address`
/// (its own target directory, so the normal build is untouched), in
/// target/asan/<host>/release.
fn asan_library() -> PathBuf {
    let target_dir = root().join("target/asan");
    let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("rustup")
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--release",
            "--lib",
            "-j2",
        ])
        // --target keeps the sanitizer off build scripts and proc macros.
        .args(["--target", &host])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(root())
        .env(
            "RUSTFLAGS",
            "-Zsanitizer=address -Cforce-frame-pointers=yes",
        )
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run rustup (is a nightly toolchain installed?)");
    assert!(status.success(), "nightly ASan build of the library failed");
    let dir = target_dir.join(host).join("release");
    // The SONAME is libmavftp.so.<major> (build.rs), as in cdylib.rs.
    let soname = dir.join(concat!("libmavftp.so.", env!("CARGO_PKG_VERSION_MAJOR")));
    if std::fs::symlink_metadata(&soname).is_err() {
        std::os::unix::fs::symlink("libmavftp.so", &soname).expect("symlink libmavftp.so.<major>");
    }
    dir
}

/// The whole C suite with AddressSanitizer (and LeakSanitizer) on both sides:
/// the library instrumented by rustc (nightly `-Zsanitizer=address`), the
/// test program by the C compiler, both checked by the C compiler's ASan
/// runtime (rustc leaves the runtime out of a cdylib; GCC 12's libasan speaks
/// the same ABI version, v8, and reports a heap overflow inside Rust code).
/// Needs a nightly toolchain; .ci/run runs it when one is installed.
#[test]
#[ignore = "needs a nightly toolchain; .ci/run runs it when one exists"]
fn c_suite_clean_under_address_sanitizer() {
    let lib = asan_library();
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("api_test_asan");
    compile_with(
        &["tests/c/api_test.c"],
        &exe,
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
        &lib,
    );
    let asan = |cmd: &mut Command| {
        cmd.env(
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23",
        );
    };
    let mut args = Command::new(&exe);
    args.arg("args");
    asan(&mut args);
    let out = run(&mut args, Duration::from_secs(120));
    assert_ok(&out, "ASan api_test args");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir work");
    let mut e2e = Command::new(&exe);
    e2e.arg("e2e").arg(&work);
    asan(&mut e2e);
    let out = run(&mut e2e, Duration::from_secs(600));
    assert_ok(&out, "ASan api_test e2e");
}

#[test]
fn cli_demo_lists_downloads_uploads_and_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let out = run(
        Command::new(&cli).arg("demo").env("TMPDIR", dir.path()),
        Duration::from_secs(120),
    );
    assert_ok(&out, "mavftp demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("flight.log"), "demo output: {text}");
    assert!(text.contains("identical"), "demo output: {text}");
}

#[test]
fn cli_serve_in_one_process_get_put_ls_from_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = build_cli(dir.path());
    let served = dir.path().join("served");
    let local = dir.path().join("local");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::create_dir(&local).expect("mkdir");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(served.join("log.bin"), &data).expect("write");
    let port = free_udp_port();
    let server = Command::new(&cli)
        .args(["--url", &format!("udpin://127.0.0.1:{port}"), "serve"])
        .arg(&served)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let _reap = Reap(server);
    let url = format!("udpout://127.0.0.1:{port}");
    let client = |args: &[&str]| {
        let mut cmd = Command::new(&cli);
        cmd.args(["--url", &url, "--target", "1:1"]).args(args);
        run(&mut cmd, Duration::from_secs(60))
    };
    let local_s = local.to_str().expect("utf-8 temp path");
    let out = client(&["get", "/log.bin", local_s]);
    assert_ok(&out, "get");
    assert_eq!(std::fs::read(local.join("log.bin")).expect("read"), data);
    let up: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
    let up_path = local.join("up.bin");
    std::fs::write(&up_path, &up).expect("write");
    assert_ok(&client(&["mkdir", "/in"]), "mkdir");
    assert_ok(
        &client(&["put", up_path.to_str().expect("utf-8"), "/in"]),
        "put",
    );
    assert_eq!(std::fs::read(served.join("in/up.bin")).expect("read"), up);
    let out = client(&["ls", "/"]);
    assert_ok(&out, "ls");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("log.bin") && listing.contains("in"),
        "ls: {listing}"
    );
    assert_ok(
        &client(&["cmp", up_path.to_str().expect("utf-8"), "/in/up.bin"]),
        "cmp",
    );
    assert_ok(&client(&["mv", "/in/up.bin", "/in/up2.bin"]), "mv");
    assert_ok(&client(&["rm", "/in/up2.bin"]), "rm");
    assert_ok(&client(&["rmdir", "/in"]), "rmdir");
    assert!(!served.join("in").exists());
    let out = client(&["get", "/nope.bin", local_s]);
    assert!(!out.status.success(), "get of a missing file must fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn header_compiles_as_cpp_with_extern_c_guards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("use.cpp");
    std::fs::write(
        &src,
        "#include \"mavftp.h\"\nint main() { return mavftp_result_str(MAVFTP_RESULT_SUCCESS)[0] == 0; }\n",
    )
    .expect("write");
    let Ok(out) = Command::new("c++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&src)
        .output()
    else {
        println!("note: no C++ compiler; skipping");
        return;
    };
    assert_ok(&out, "c++ -fsyntax-only");
}
