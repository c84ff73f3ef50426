//! The library as a C, C++ or Qt developer gets it: `packaging/install.sh`
//! into a fresh temporary prefix, then programs built against that prefix
//! only (pkg-config, CMake's find_package), never against the build tree, each
//! running a real transfer with the embedded server on loopback.
//!
//! Needs cc, c++, make, cmake, pkg-config, binutils and Qt 6 (qt6-base-dev,
//! which brings qmake6);
//! `bash .ci/run` installs them. `MAVFTP_BLESS=1` also copies the Qt
//! example's screenshot to docs/qt-example.png.

use crate::cdylib;
use crate::support::{assert_ok, root, run_hinted};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");

/// [`support::run`](crate::support::run) with the build tree kept from a
/// consumer's environment (cargo puts target/ on LD_LIBRARY_PATH) and no stdin.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_hinted(
        cmd.env_remove("LD_LIBRARY_PATH").stdin(Stdio::null()),
        limit,
        "\n(the packaging tests need cc, c++, cmake, pkg-config, binutils and qt6-base-dev: \
         `bash .ci/run` installs them)",
    )
}

fn stdout_of(cmd: &mut Command, what: &str) -> String {
    assert_ok(&run(cmd, Duration::from_secs(60)), what)
}

/// Files shared by the consumers: a served root and a local directory.
fn pattern(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + seed) % 251) as u8).collect()
}

/// A fresh temporary prefix with the library installed by packaging/install.sh,
/// plus a scratch directory; both removed when dropped.
struct Installed {
    dir: tempfile::TempDir,
    prefix: PathBuf,
}

impl Installed {
    fn new() -> Installed {
        let built = cdylib::lib_dir(); // the cdylib of this cargo test
        let dir = tempfile::Builder::new()
            .prefix("mavftp-packaging-")
            .tempdir()
            .expect("tempdir");
        let prefix = dir.path().join("prefix");
        let out = run(
            Command::new("bash")
                .arg(root().join("packaging/install.sh"))
                .arg("--prefix")
                .arg(&prefix)
                .arg("--from")
                .arg(&built),
            Duration::from_secs(120),
        );
        assert_ok(&out, "packaging/install.sh");
        Installed { dir, prefix }
    }

    fn lib(&self) -> PathBuf {
        self.prefix.join("lib")
    }

    /// A new scratch directory.
    fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// pkg-config against this prefix only (PKG_CONFIG_LIBDIR replaces the
    /// default search path, so an installed mavftp elsewhere cannot answer).
    fn pkg_config(&self, args: &[&str]) -> Vec<String> {
        let out = stdout_of(
            Command::new("pkg-config")
                .env("PKG_CONFIG_LIBDIR", self.lib().join("pkgconfig"))
                .env_remove("PKG_CONFIG_PATH")
                .args(args)
                .arg("mavftp"),
            "pkg-config",
        );
        out.split_whitespace().map(String::from).collect()
    }

    /// Configure and build a CMake project against this prefix; returns the
    /// configure output.
    fn cmake_build(&self, source: &Path, build: &Path, extra: &[String]) -> String {
        let configure = run(
            Command::new("cmake")
                .arg("-S")
                .arg(source)
                .arg("-B")
                .arg(build)
                .arg(format!("-DCMAKE_PREFIX_PATH={}", self.prefix.display()))
                .arg("-DCMAKE_BUILD_TYPE=Release")
                .arg("-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF")
                .args(extra),
            Duration::from_secs(300),
        );
        let text = assert_ok(&configure, "cmake configure");
        let out = run(
            Command::new("cmake").arg("--build").arg(build).arg("-j2"),
            Duration::from_secs(900),
        );
        assert_ok(&out, "cmake --build");
        text
    }
}

/// RPATH/RUNPATH entries of an ELF file.
fn run_paths(elf: &Path) -> Vec<String> {
    let dynamic = stdout_of(Command::new("readelf").arg("-d").arg(elf), "readelf -d");
    dynamic
        .lines()
        .filter(|l| l.contains("(RPATH)") || l.contains("(RUNPATH)"))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')))
        .flat_map(|(paths, _)| paths.split(':').map(String::from).collect::<Vec<_>>())
        .collect()
}

/// NEEDED entries of an ELF file.
fn needed(elf: &Path) -> Vec<String> {
    let dynamic = stdout_of(Command::new("readelf").arg("-d").arg(elf), "readelf -d");
    dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// A consumer binary may find libmavftp in the prefix, never in the build tree.
fn assert_no_build_tree_path(elf: &Path, installed: &Installed) {
    for path in run_paths(elf) {
        assert!(
            !path.starts_with(root().to_str().expect("utf-8 root")) && !path.contains("/target/"),
            "{} has a run path into the build tree: {path}",
            elf.display()
        );
        assert!(
            Path::new(&path).starts_with(&installed.prefix) || path.starts_with("$ORIGIN"),
            "{} has a run path outside the prefix: {path}",
            elf.display()
        );
    }
}

/// Names the header declares: functions, macros, result values.
fn header_names(header: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut functions = Vec::new();
    let mut macros = Vec::new();
    let mut results = Vec::new();
    for line in header.lines() {
        let t = line.trim();
        if t.starts_with('*') || t.starts_with("/*") {
            continue;
        }
        if let Some(rest) = t.strip_prefix("#define ") {
            let name = ident(rest);
            if name != "MAVFTP_H" {
                macros.push(name);
            }
        } else if t.starts_with("MAVFTP_RESULT_") {
            results.push(ident(t));
        } else if !t.starts_with("typedef") && !t.starts_with('#') {
            // a prototype: `mavftp_result mavftp_client_new(...` -> the word before '('
            if let Some(open) = t.find('(') {
                let fname = t[..open]
                    .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default();
                if fname.starts_with("mavftp_") {
                    functions.push(fname.to_string());
                }
            }
        }
    }
    (functions, macros, results)
}

fn installed_header(installed: &Installed) -> String {
    std::fs::read_to_string(installed.prefix.join("include/mavftp.h")).expect("installed mavftp.h")
}

#[test]
fn install_lays_out_versioned_library_symlinks_headers_pc_and_cmake_package() {
    let inst = Installed::new();
    let lib = inst.lib();
    let real = format!("libmavftp.so.{VERSION}");
    let soname = format!("libmavftp.so.{MAJOR}");
    assert!(
        lib.join(&real)
            .symlink_metadata()
            .expect("real .so")
            .is_file()
    );
    assert_eq!(
        std::fs::read_link(lib.join(&soname)).expect("soname symlink"),
        PathBuf::from(&real)
    );
    assert_eq!(
        std::fs::read_link(lib.join("libmavftp.so")).expect("dev symlink"),
        PathBuf::from(&soname)
    );
    let dynamic = stdout_of(
        Command::new("readelf").arg("-d").arg(lib.join(&real)),
        "readelf",
    );
    assert!(
        dynamic.contains(&format!("Library soname: [{soname}]")),
        "no SONAME {soname}:\n{dynamic}"
    );
    assert!(
        run_paths(&lib.join(&real)).is_empty(),
        "installed library has a run path"
    );
    for h in ["mavftp.h", "mavftp.hpp"] {
        assert_eq!(
            std::fs::read(inst.prefix.join("include").join(h)).expect("installed header"),
            std::fs::read(root().join("include").join(h)).expect("repo header"),
            "{h}"
        );
    }
    let archive = stdout_of(
        Command::new("nm")
            .arg("--defined-only")
            .arg(lib.join("libmavftp.a")),
        "nm libmavftp.a",
    );
    assert!(
        archive.contains(" T mavftp_client_new"),
        "libmavftp.a lacks the C API"
    );
    assert!(lib.join("cmake/mavftp/mavftpConfig.cmake").is_file());
    assert!(lib.join("cmake/mavftp/mavftpConfigVersion.cmake").is_file());

    assert_eq!(inst.pkg_config(&["--modversion"]), [VERSION]);
    assert_eq!(
        inst.pkg_config(&["--cflags"]),
        [format!("-I{}/include", inst.prefix.display())]
    );
    assert_eq!(
        inst.pkg_config(&["--libs"]),
        [format!("-L{}", lib.display()), "-lmavftp".to_string()]
    );
    let static_libs = inst.pkg_config(&["--static", "--libs"]);
    for flag in ["-lmavftp", "-lpthread", "-ldl", "-lm", "-lgcc_s"] {
        assert!(
            static_libs.iter().any(|f| f == flag),
            "{flag} in {static_libs:?}"
        );
    }
}

#[test]
fn installed_library_exports_exactly_the_header_functions_and_has_no_debug_info() {
    let inst = Installed::new();
    let real = inst.lib().join(format!("libmavftp.so.{VERSION}"));
    let symbols = stdout_of(
        Command::new("nm").args(["-D", "--defined-only"]).arg(&real),
        "nm -D",
    );
    let exported: BTreeSet<String> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(String::from)
        .collect();
    let strays: Vec<_> = exported
        .iter()
        .filter(|s| !s.starts_with("mavftp_"))
        .collect();
    assert!(
        strays.is_empty(),
        "exported symbols without mavftp_: {strays:?}"
    );
    let (functions, _, _) = header_names(&installed_header(&inst));
    let declared: BTreeSet<String> = functions.into_iter().collect();
    assert_eq!(exported, declared, "exported symbols != header functions");

    let sections = stdout_of(
        Command::new("readelf").args(["-S", "-W"]).arg(&real),
        "readelf -S",
    );
    assert!(
        !sections.contains(".debug_"),
        "installed library keeps debug info"
    );
    assert!(
        !sections.contains(" .symtab"),
        "installed library keeps its symbol table"
    );
    assert!(
        sections.contains(".gnu_debuglink"),
        "no link to the debug file"
    );
    let size = std::fs::metadata(&real).expect("size").len();
    println!("installed {} is {size} bytes", real.display());
    assert!(size < 3_000_000, "stripped library is {size} bytes");
    let debug = inst
        .lib()
        .join(format!(".debug/libmavftp.so.{VERSION}.debug"));
    let debug_sections = stdout_of(
        Command::new("readelf").args(["-S", "-W"]).arg(&debug),
        "readelf",
    );
    assert!(
        debug_sections.contains(".debug_info"),
        "debug file without debug info"
    );
}

#[test]
fn install_respects_destdir_and_the_prefix_variable() {
    let built = cdylib::lib_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = dir.path().join("stage");
    let prefix = "/opt/mavftp-destdir-test";
    let out = run(
        Command::new("bash")
            .arg(root().join("packaging/install.sh"))
            .arg("--from")
            .arg(&built)
            .arg("--no-debug-file")
            .env("PREFIX", prefix)
            .env("DESTDIR", &stage),
        Duration::from_secs(120),
    );
    assert_ok(&out, "install.sh with DESTDIR");
    assert!(
        !Path::new(prefix).exists(),
        "install.sh wrote outside DESTDIR"
    );
    let staged = stage.join(prefix.trim_start_matches('/'));
    for f in [
        "include/mavftp.h".to_string(),
        "include/mavftp.hpp".to_string(),
        format!("lib/libmavftp.so.{VERSION}"),
        format!("lib/libmavftp.so.{MAJOR}"),
        "lib/libmavftp.so".to_string(),
        "lib/libmavftp.a".to_string(),
        "lib/pkgconfig/mavftp.pc".to_string(),
        "lib/cmake/mavftp/mavftpConfig.cmake".to_string(),
        "lib/cmake/mavftp/mavftpConfigVersion.cmake".to_string(),
    ] {
        assert!(staged.join(&f).exists(), "{f} not staged");
    }
    assert!(
        !staged.join("lib/.debug").exists(),
        "--no-debug-file ignored"
    );
    let pc = std::fs::read_to_string(staged.join("lib/pkgconfig/mavftp.pc")).expect("pc");
    assert!(pc.contains(&format!("prefix={prefix}\n")), "{pc}");
    assert!(
        !pc.contains(stage.to_str().expect("utf-8")),
        "DESTDIR leaked into mavftp.pc"
    );
    let config =
        std::fs::read_to_string(staged.join("lib/cmake/mavftp/mavftpConfig.cmake")).expect("cmake");
    assert!(
        config.contains("\"${CMAKE_CURRENT_LIST_DIR}/../../..\""),
        "{config}"
    );
    assert!(
        !config.contains(stage.to_str().expect("utf-8")),
        "DESTDIR leaked into the CMake package"
    );

    let out = run(
        Command::new("bash")
            .arg(root().join("packaging/install.sh"))
            .args(["--prefix", "relative/path", "--from"])
            .arg(&built),
        Duration::from_secs(60),
    );
    assert!(!out.status.success(), "a relative prefix must be refused");
}

#[test]
fn nothing_installed_names_the_build_tree() {
    let inst = Installed::new();
    let root_text = root().to_str().expect("utf-8 root");
    for text in [
        "lib/pkgconfig/mavftp.pc",
        "lib/cmake/mavftp/mavftpConfig.cmake",
        "lib/cmake/mavftp/mavftpConfigVersion.cmake",
        "include/mavftp.h",
        "include/mavftp.hpp",
    ] {
        let body = std::fs::read_to_string(inst.prefix.join(text)).expect("installed file");
        assert!(!body.contains(root_text), "{text} names the build tree");
        assert!(
            !body.contains("target/release"),
            "{text} names target/release"
        );
    }
    let real = inst.lib().join(format!("libmavftp.so.{VERSION}"));
    assert!(run_paths(&real).is_empty());
    let needs = needed(&real);
    assert!(
        needs.iter().all(|n| !n.contains('/')),
        "NEEDED with a path: {needs:?}"
    );
}

fn c_flags() -> [&'static str; 5] {
    ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
}

/// Serve and transfer with tests/packaging/consumer.c built as `exe`.
fn run_consumer(inst: &Installed, exe: &Path, name: &str) {
    let served = inst.scratch(&format!("{name}-root"));
    let local = inst.scratch(&format!("{name}-local"));
    let out = run(
        Command::new(exe).arg(&served).arg(&local),
        Duration::from_secs(60),
    );
    let text = assert_ok(&out, name);
    assert!(
        text.contains(&format!("consumer ok: libmavftp {VERSION}")),
        "{text}"
    );
    // The program checks the bytes itself; check them here as well.
    assert_eq!(
        std::fs::read(local.join("data.bin")).expect("downloaded"),
        pattern(200_000, 7)
    );
    assert_eq!(
        std::fs::read(served.join("up.bin")).expect("uploaded"),
        pattern(200_000, 11)
    );
}

#[test]
fn c_program_built_with_pkg_config_links_the_shared_library_and_moves_bytes() {
    let inst = Installed::new();
    let exe = inst.scratch("bin").join("consumer_shared");
    let libdir = inst.pkg_config(&["--variable=libdir"]).join(" ");
    let out = run(
        Command::new("cc")
            .args(c_flags())
            .arg(root().join("tests/packaging/consumer.c"))
            .arg("-o")
            .arg(&exe)
            .args(inst.pkg_config(&["--cflags", "--libs"]))
            .arg(format!("-Wl,-rpath,{libdir}")),
        Duration::from_secs(120),
    );
    assert_ok(&out, "cc consumer.c $(pkg-config --cflags --libs mavftp)");
    assert!(needed(&exe).contains(&format!("libmavftp.so.{MAJOR}")));
    assert_no_build_tree_path(&exe, &inst);
    let ldd = stdout_of(Command::new("ldd").arg(&exe), "ldd");
    let expected = format!("libmavftp.so.{MAJOR} => {libdir}/libmavftp.so.{MAJOR}");
    assert!(ldd.contains(&expected), "not the installed library:\n{ldd}");
    run_consumer(&inst, &exe, "shared");
}

#[test]
fn c_program_built_with_pkg_config_static_links_the_archive_and_moves_bytes() {
    let inst = Installed::new();
    let exe = inst.scratch("bin").join("consumer_static");
    // libmavftp.a for mavftp itself (-Bstatic), the system libraries of
    // Libs.private dynamically; --as-needed drops the -lmavftp that pkg-config
    // repeats (the README shows the same line).
    let out = run(
        Command::new("cc")
            .args(c_flags())
            .arg(root().join("tests/packaging/consumer.c"))
            .arg("-o")
            .arg(&exe)
            .args(inst.pkg_config(&["--cflags"]))
            .arg("-Wl,--as-needed,-Bstatic,-lmavftp,-Bdynamic")
            .args(inst.pkg_config(&["--static", "--libs"])),
        Duration::from_secs(120),
    );
    assert_ok(&out, "cc consumer.c with pkg-config --static");
    let needs = needed(&exe);
    assert!(
        !needs.iter().any(|n| n.starts_with("libmavftp")),
        "static consumer still needs {needs:?}"
    );
    assert_no_build_tree_path(&exe, &inst);
    run_consumer(&inst, &exe, "static");
}

#[test]
fn c_program_built_with_qmake_and_pkgconfig_moves_bytes() {
    let inst = Installed::new();
    let build = inst.scratch("build-qmake");
    let pc = inst.lib().join("pkgconfig");
    let pro = root().join("tests/packaging/qmake/consumer.pro");
    let out = run(
        Command::new("qmake6")
            .arg(&pro)
            .current_dir(&build)
            .env("PKG_CONFIG_LIBDIR", &pc)
            .env_remove("PKG_CONFIG_PATH"),
        Duration::from_secs(120),
    );
    assert_ok(&out, "qmake6 consumer.pro");
    let out = run(
        Command::new("make")
            .current_dir(&build)
            .env("PKG_CONFIG_LIBDIR", &pc)
            .env_remove("PKG_CONFIG_PATH"),
        Duration::from_secs(120),
    );
    assert_ok(&out, "make (qmake project)");
    let exe = build.join("consumer_qmake");
    assert!(needed(&exe).contains(&format!("libmavftp.so.{MAJOR}")));
    assert_no_build_tree_path(&exe, &inst);
    run_consumer(&inst, &exe, "qmake");
}

#[test]
fn every_function_file_compiles_as_c11_and_cpp17_and_runs() {
    let inst = Installed::new();
    let libdir = inst.lib();
    let src = root().join("tests/packaging/every_function.c");
    for (compiler, lang, std) in [("cc", "c", "-std=c11"), ("c++", "c++", "-std=c++17")] {
        let exe = inst.scratch("bin").join(format!("every_function_{lang}"));
        let out = run(
            Command::new(compiler)
                .args(["-x", lang, std, "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
                .arg(&src)
                .args(["-x", "none", "-o"])
                .arg(&exe)
                .args(inst.pkg_config(&["--cflags", "--libs"]))
                .arg("-lpthread")
                .arg(format!("-Wl,-rpath,{}", libdir.display())),
            Duration::from_secs(120),
        );
        assert_ok(&out, &format!("{compiler} {std} every_function.c"));
        assert_no_build_tree_path(&exe, &inst);
        let work = inst.scratch(&format!("work-{lang}"));
        let out = run(Command::new(&exe).arg(&work), Duration::from_secs(120));
        let text = assert_ok(&out, &format!("every_function ({lang})"));
        assert!(text.contains("every function ok"), "{text}");
    }
}

#[test]
fn every_function_file_uses_every_function_macro_and_result_of_the_header() {
    let inst = Installed::new();
    let (functions, macros, results) = header_names(&installed_header(&inst));
    assert!(functions.len() >= 30, "parsed only {functions:?}");
    assert!(
        macros.iter().any(|m| m == "MAVFTP_VERSION_MAJOR"),
        "{macros:?}"
    );
    assert_eq!(results.len(), 14, "{results:?}");
    let src = std::fs::read_to_string(root().join("tests/packaging/every_function.c"))
        .expect("every_function.c");
    let used = |name: &str| {
        src.match_indices(name).any(|(at, _)| {
            let before = src[..at].chars().next_back();
            let after = src[at + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    };
    let missing: Vec<&String> = functions
        .iter()
        .chain(&macros)
        .chain(&results)
        .filter(|n| !used(n))
        .collect();
    assert!(
        missing.is_empty(),
        "tests/packaging/every_function.c does not use {missing:?}: extend it"
    );
}

#[test]
fn cpp_wrapper_tests_pass_built_with_cmake_find_package_shared_and_static() {
    let inst = Installed::new();
    let build = inst.scratch("build-cpp");
    let configured = inst.cmake_build(
        &root().join("tests/packaging/cpp"),
        &build,
        &[format!("-DMAVFTP_EXPECT_VERSION={VERSION}")],
    );
    let found = format!(
        "mavftp {VERSION} from {}",
        inst.lib().join("cmake/mavftp").display()
    );
    assert!(
        configured.contains(&found),
        "CMake found another mavftp:\n{configured}"
    );
    for exe in ["wrapper_test", "wrapper_test_static"] {
        let path = build.join(exe);
        assert_no_build_tree_path(&path, &inst);
        let linked_shared = needed(&path).iter().any(|n| n.starts_with("libmavftp"));
        assert_eq!(
            linked_shared,
            exe == "wrapper_test",
            "{exe} links {:?}",
            needed(&path)
        );
        let work = inst.scratch(&format!("work-{exe}"));
        let out = run(Command::new(&path).arg(&work), Duration::from_secs(180));
        let text = assert_ok(&out, exe);
        assert!(text.contains("9 passed, 0 failed"), "{exe}:\n{text}");
    }
}

#[test]
fn qt_example_builds_with_find_package_and_lists_downloads_uploads_headless() {
    let inst = Installed::new();
    let build = inst.scratch("build-qt");
    inst.cmake_build(
        &root().join("examples-qt"),
        &build,
        &["-DCMAKE_CXX_FLAGS=-Werror".to_string()],
    );
    for exe in ["mavftp-qt", "mavftp-qt-drive"] {
        assert_no_build_tree_path(&build.join(exe), &inst);
    }
    let served = inst.scratch("qt-root");
    let local = inst.scratch("qt-local");
    std::fs::create_dir_all(local.join("cancelled")).expect("mkdir");
    for d in ["logs", "missions", "terrain"] {
        std::fs::create_dir_all(served.join(d)).expect("mkdir");
    }
    let flight = pattern(1_234_567, 3);
    std::fs::write(served.join("logs/flight-001.bin"), &flight).expect("write");
    std::fs::write(served.join("logs/flight-002.bin"), pattern(300_000, 4)).expect("write");
    std::fs::write(served.join("blackbox.bin"), pattern(30_000_000, 5)).expect("write");
    std::fs::write(served.join("missions/survey.waypoints"), b"QGC WPL 110\n").expect("write");
    std::fs::write(served.join("params.parm"), b"SYSID_THISMAV 1\n").expect("write");
    let upload = local.join("notes.txt");
    std::fs::write(&upload, b"uploaded from the Qt example\n").expect("write");
    let shot = inst.scratch("shot").join("qt-example.png");
    let runtime = inst.scratch("xdg-runtime");
    let out = run(
        Command::new(build.join("mavftp-qt-drive"))
            .arg(&served)
            .arg(&local)
            .arg(&upload)
            .arg(&shot)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("XDG_RUNTIME_DIR", &runtime),
        Duration::from_secs(180),
    );
    let text = assert_ok(&out, "mavftp-qt-drive");
    assert!(text.contains("drive ok"), "{text}");
    assert_eq!(
        std::fs::read(local.join("flight-001.bin")).expect("downloaded"),
        flight
    );
    assert_eq!(
        std::fs::read(served.join("logs/notes.txt")).expect("uploaded"),
        b"uploaded from the Qt example\n"
    );
    let cancelled: Vec<_> = std::fs::read_dir(local.join("cancelled"))
        .expect("read_dir")
        .collect();
    assert!(
        cancelled.is_empty(),
        "a cancelled download left {cancelled:?}"
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().expect("IHDR"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("IHDR"));
    assert!(
        width >= 600 && height >= 400,
        "screenshot is {width}x{height}"
    );
    if std::env::var_os("MAVFTP_BLESS").is_some() {
        std::fs::create_dir_all(root().join("docs")).expect("mkdir docs");
        std::fs::copy(&shot, root().join("docs/qt-example.png")).expect("copy screenshot");
    }
}

#[test]
fn readme_cpp_quick_start_compiles_against_the_installed_headers() {
    let inst = Installed::new();
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let after = readme
        .split_once("**C++ quick start**")
        .expect("README has a C++ quick start")
        .1;
    let code = after
        .split_once("```cpp\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a ```cpp block")
        .0;
    let src = inst.scratch("quick").join("quick_start.cpp");
    std::fs::write(&src, code).expect("write");
    let exe = src.with_extension("");
    let out = run(
        Command::new("c++")
            .args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .args(inst.pkg_config(&["--cflags", "--libs"]))
            .arg("-lpthread"),
        Duration::from_secs(120),
    );
    assert_ok(&out, "c++ README quick start");
}
