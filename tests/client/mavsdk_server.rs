//! Our client against a server nobody here wrote: MAVSDK 4.1.0's FtpServer
//! (libcmavsdk from the `mavsdk` wheel, tests/interop/mavsdk_ftp_server.py).
//! Every operation, transfers checked byte for byte on the server's root, and
//! the C ABI's argument checks (NULL, over-long path, invalid UTF-8) called
//! through the exported `extern "C"` functions.
//!
//! Two tests, each with one server process (it starts in ~1 s), run in
//! parallel: `c_abi_*` drives the exported C functions, `rust_api_*` the
//! Rust `Client` with every size. The server talks `udpout` to our client's
//! `udpin` port; it heartbeats from 1/1. Never list a regular file: that
//! aborts MAVSDK's server (tests/interop/README.md).

use std::ffi::{CStr, CString, c_char, c_void};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use crate::content::pattern;
use crate::mavsdk::{free_udp_port, start_mavsdk_server};
use mavftp::link::Link;
use mavftp::{Client, EntryKind, FtpResult};

/// Sizes the issue asks for: empty, one byte, around one chunk (239), one
/// page less one, 1 MB.
const SIZES: [usize; 7] = [0, 1, 238, 239, 240, 4095, 1 << 20];

// ---- the C ABI, as exported by the library (include/mavftp.h) ----

const SUCCESS: i32 = 1;
const TIMEOUT: i32 = 3;
const FILE_EXISTS: i32 = 6;
const FILE_DOES_NOT_EXIST: i32 = 7;
const INVALID_PARAMETER: i32 = 9;
const NO_SYSTEM: i32 = 12;

#[repr(C)]
struct CLink {
    _p: [u8; 0],
}
#[repr(C)]
struct CClient {
    _p: [u8; 0],
}
#[repr(C)]
#[derive(Clone, Copy)]
struct CProgress {
    bytes_transferred: u32,
    total_bytes: u32,
}
#[repr(C)]
struct CEntry {
    name: *const c_char,
    kind: u32,
    size_bytes: u64,
    modification_time_s: u64,
}
#[repr(C)]
struct CList {
    dirs: *const *const c_char,
    dirs_len: usize,
    files: *const *const c_char,
    files_len: usize,
    entries: *const CEntry,
    entries_len: usize,
}
type ProgressCb = Option<extern "C" fn(i32, CProgress, *mut c_void)>;

unsafe extern "C" {
    fn mavftp_link_open(url: *const c_char, sys: u8, comp: u8, out: *mut *mut CLink) -> i32;
    fn mavftp_link_free(link: *mut CLink);
    fn mavftp_client_new(link: *mut CLink, sys: u8, comp: u8, out: *mut *mut CClient) -> i32;
    fn mavftp_client_free(client: *mut CClient);
    fn mavftp_client_set_target_compid(client: *mut CClient, compid: u32) -> i32;
    fn mavftp_client_set_timeout(client: *mut CClient, timeout_ms: u32, retries: u32) -> i32;
    fn mavftp_client_download(
        client: *mut CClient,
        remote: *const c_char,
        local_dir: *const c_char,
        burst: bool,
        progress: ProgressCb,
        user: *mut c_void,
    ) -> i32;
    fn mavftp_client_upload(
        client: *mut CClient,
        local: *const c_char,
        remote_dir: *const c_char,
        progress: ProgressCb,
        user: *mut c_void,
    ) -> i32;
    fn mavftp_client_list_directory(
        client: *mut CClient,
        remote_dir: *const c_char,
        out: *mut *mut CList,
    ) -> i32;
    fn mavftp_list_free(list: *mut CList);
    fn mavftp_client_create_directory(client: *mut CClient, p: *const c_char) -> i32;
    fn mavftp_client_remove_directory(client: *mut CClient, p: *const c_char) -> i32;
    fn mavftp_client_remove_file(client: *mut CClient, p: *const c_char) -> i32;
    fn mavftp_client_rename(client: *mut CClient, a: *const c_char, b: *const c_char) -> i32;
    fn mavftp_client_are_files_identical(
        client: *mut CClient,
        local: *const c_char,
        remote: *const c_char,
        out: *mut bool,
    ) -> i32;
}

fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL")
}

/// Names of a C string array.
fn names(ptr: *const *const c_char, len: usize) -> Vec<String> {
    (0..len)
        .map(|i| {
            // SAFETY: the list holds `len` valid C strings.
            unsafe { CStr::from_ptr(*ptr.add(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Final progress seen by a progress callback (user_data points at it).
extern "C" fn record_progress(result: i32, p: CProgress, user: *mut c_void) {
    if result != 2 {
        // SAFETY: user_data is the caller's `Option<(i32, CProgress)>`.
        unsafe {
            *user.cast::<Option<(i32, u32, u32)>>() =
                Some((result, p.bytes_transferred, p.total_bytes))
        };
    }
}

/// The C client over a C link on a free udpin port, and the server talking to it.
struct CSide {
    link: *mut CLink,
    client: *mut CClient,
}

impl Drop for CSide {
    fn drop(&mut self) {
        // SAFETY: both came from the library; the client goes before its link.
        unsafe {
            mavftp_client_free(self.client);
            mavftp_link_free(self.link);
        }
    }
}

/// Waits until `link` heard 1/1 (MAVSDK's heartbeat), up to 10 s.
fn wait_heard(link: &Link) {
    let start = Instant::now();
    while !link.has_heard(1, 1) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no HEARTBEAT from MAVSDK 1/1"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every argument check of the C ABI, every operation through the C
/// functions, and set_target_compid / set_timeout.
#[test]
fn c_abi_against_mavsdk_server() {
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let mut link: *mut CLink = null_mut();
    let url = cs(&format!("udpin://127.0.0.1:{port}"));
    // SAFETY: valid C strings and out-pointers throughout this test.
    unsafe {
        assert_eq!(mavftp_link_open(null(), 0, 0, &mut link), INVALID_PARAMETER);
        assert_eq!(
            mavftp_link_open(url.as_ptr(), 0, 0, null_mut()),
            INVALID_PARAMETER
        );
        assert_eq!(mavftp_link_open(url.as_ptr(), 0, 0, &mut link), SUCCESS);
    }
    let mut client: *mut CClient = null_mut();
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            mavftp_client_new(null_mut(), 1, 1, &mut client),
            INVALID_PARAMETER
        );
        assert_eq!(mavftp_client_new(link, 1, 1, null_mut()), INVALID_PARAMETER);
        assert_eq!(mavftp_client_new(link, 1, 1, &mut client), SUCCESS);
    }
    let side = CSide { link, client };
    let c = side.client;
    let _server = start_mavsdk_server(root.path(), &format!("udpout://127.0.0.1:{port}"), &[]);

    fs::write(root.path().join("f4095.bin"), pattern(4095, 1)).unwrap();
    fs::write(root.path().join("f240.bin"), pattern(240, 2)).unwrap();
    let up = local.path().join("up");
    fs::create_dir(&up).unwrap();
    fs::write(up.join("u4095.bin"), pattern(4095, 3)).unwrap();
    let dl = local.path().join("dl");
    fs::create_dir(&dl).unwrap();

    let ok = cs("/f4095.bin");
    let dir = cs("/");
    let ldl = cpath(&dl);
    let lup = cpath(&up.join("u4095.bin"));
    let long = cs(&format!("/{}", "a".repeat(238))); // 239 bytes
    let max = cs(&format!("/{}", "a".repeat(237))); // 238 bytes: allowed
    let bad_utf8 = CString::new(vec![b'/', 0xff, 0xfe, b'x']).unwrap();
    let empty = cs("");
    let mut list: *mut CList = null_mut();
    let mut same = false;

    // Invalid arguments: NULL client, NULL pointers, 239-byte paths, invalid UTF-8.
    // SAFETY: the pointers are valid or deliberately NULL.
    unsafe {
        assert_eq!(mavftp_client_set_target_compid(c, 256), INVALID_PARAMETER);
        assert_eq!(
            mavftp_client_set_target_compid(null_mut(), 1),
            INVALID_PARAMETER
        );
        assert_eq!(mavftp_client_set_timeout(c, 0, 3), INVALID_PARAMETER);
        assert_eq!(
            mavftp_client_set_timeout(null_mut(), 500, 3),
            INVALID_PARAMETER
        );
        for remote in [null(), long.as_ptr(), bad_utf8.as_ptr(), empty.as_ptr()] {
            let r = mavftp_client_download(c, remote, ldl.as_ptr(), true, None, null_mut());
            assert_eq!(r, INVALID_PARAMETER, "download of a bad remote path");
            let r = mavftp_client_upload(c, lup.as_ptr(), remote, None, null_mut());
            assert_eq!(r, INVALID_PARAMETER, "upload to a bad remote dir");
            assert_eq!(
                mavftp_client_list_directory(c, remote, &mut list),
                INVALID_PARAMETER
            );
            assert_eq!(mavftp_client_create_directory(c, remote), INVALID_PARAMETER);
            assert_eq!(mavftp_client_remove_directory(c, remote), INVALID_PARAMETER);
            assert_eq!(mavftp_client_remove_file(c, remote), INVALID_PARAMETER);
            assert_eq!(
                mavftp_client_rename(c, remote, ok.as_ptr()),
                INVALID_PARAMETER
            );
            assert_eq!(
                mavftp_client_rename(c, ok.as_ptr(), remote),
                INVALID_PARAMETER
            );
            let r = mavftp_client_are_files_identical(c, lup.as_ptr(), remote, &mut same);
            assert_eq!(r, INVALID_PARAMETER, "cmp with a bad remote path");
        }
        assert!(list.is_null(), "a refused listing wrote *out_list");
        let r = mavftp_client_download(
            null_mut(),
            ok.as_ptr(),
            ldl.as_ptr(),
            true,
            None,
            null_mut(),
        );
        assert_eq!(r, INVALID_PARAMETER);
        let r = mavftp_client_download(c, ok.as_ptr(), null(), true, None, null_mut());
        assert_eq!(r, INVALID_PARAMETER);
        let r = mavftp_client_upload(c, null(), dir.as_ptr(), None, null_mut());
        assert_eq!(r, INVALID_PARAMETER);
        assert_eq!(
            mavftp_client_list_directory(c, dir.as_ptr(), null_mut()),
            INVALID_PARAMETER
        );
        assert_eq!(
            mavftp_client_list_directory(null_mut(), dir.as_ptr(), &mut list),
            INVALID_PARAMETER
        );
        let r = mavftp_client_are_files_identical(c, lup.as_ptr(), ok.as_ptr(), null_mut());
        assert_eq!(r, INVALID_PARAMETER);
        let r = mavftp_client_are_files_identical(c, null(), ok.as_ptr(), &mut same);
        assert_eq!(r, INVALID_PARAMETER);
        assert_eq!(
            mavftp_client_remove_file(null_mut(), ok.as_ptr()),
            INVALID_PARAMETER
        );
        // A 238-byte path is legal: it reaches the server, which has no such file.
        assert_eq!(
            mavftp_client_remove_file(c, max.as_ptr()),
            FILE_DOES_NOT_EXIST
        );
    }
    assert!(
        fs::read_dir(&dl).unwrap().next().is_none(),
        "refused downloads left files"
    );
    assert!(
        root.path().join("f4095.bin").exists(),
        "a refused call touched the server"
    );

    let burst_final: Option<(i32, u32, u32)>;
    // SAFETY: valid pointers; user_data points at a live Option.
    unsafe {
        // Downloads through C, burst and plain, with the final progress.
        let mut fin: Option<(i32, u32, u32)> = None;
        let user = (&raw mut fin).cast::<c_void>();
        let r = mavftp_client_download(
            c,
            ok.as_ptr(),
            ldl.as_ptr(),
            true,
            Some(record_progress),
            user,
        );
        assert_eq!(r, SUCCESS, "C burst download of 4095 B");
        burst_final = fin;
        assert_eq!(fs::read(dl.join("f4095.bin")).unwrap(), pattern(4095, 1));
        let f240 = cs("/f240.bin");
        let r = mavftp_client_download(c, f240.as_ptr(), ldl.as_ptr(), false, None, null_mut());
        assert_eq!(r, SUCCESS, "C plain download of 240 B");
        assert_eq!(fs::read(dl.join("f240.bin")).unwrap(), pattern(240, 2));
        // Missing file: FILE_DOES_NOT_EXIST and nothing left in local_dir.
        let missing = cs("/missing.bin");
        for burst in [true, false] {
            let r =
                mavftp_client_download(c, missing.as_ptr(), ldl.as_ptr(), burst, None, null_mut());
            assert_eq!(
                r, FILE_DOES_NOT_EXIST,
                "download of a missing file (burst {burst})"
            );
        }
        let mut left: Vec<_> = fs::read_dir(&dl)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["f240.bin", "f4095.bin"],
            "a failed download left a file"
        );

        // Upload through C.
        let r = mavftp_client_upload(c, lup.as_ptr(), dir.as_ptr(), None, null_mut());
        assert_eq!(r, SUCCESS, "C upload of 4095 B");
        assert_eq!(
            fs::read(root.path().join("u4095.bin")).unwrap(),
            pattern(4095, 3)
        );

        // Directories through C: create, existing, list, remove.
        let d = cs("/d");
        assert_eq!(mavftp_client_create_directory(c, d.as_ptr()), SUCCESS);
        assert!(root.path().join("d").is_dir());
        assert_eq!(mavftp_client_create_directory(c, d.as_ptr()), FILE_EXISTS);
        let sub = cs("/d/sub");
        assert_eq!(mavftp_client_create_directory(c, sub.as_ptr()), SUCCESS);
        fs::write(root.path().join("d/x.bin"), pattern(17, 4)).unwrap();
        assert_eq!(
            mavftp_client_list_directory(c, d.as_ptr(), &mut list),
            SUCCESS
        );
        assert!(!list.is_null());
        let l = &*list;
        assert_eq!(names(l.dirs, l.dirs_len), ["sub"]);
        assert_eq!(names(l.files, l.files_len), ["x.bin"]);
        assert_eq!(l.entries_len, 2);
        let e = std::slice::from_raw_parts(l.entries, l.entries_len);
        assert_eq!(CStr::from_ptr(e[0].name).to_str().unwrap(), "sub");
        assert_eq!(e[0].kind, 2);
        assert_eq!(CStr::from_ptr(e[1].name).to_str().unwrap(), "x.bin");
        assert_eq!((e[1].kind, e[1].size_bytes), (1, 17));
        mavftp_list_free(list);
        assert_eq!(mavftp_client_remove_directory(c, sub.as_ptr()), SUCCESS);
        assert!(!root.path().join("d/sub").exists());

        // Files: rename, remove, remove a missing one.
        let x = cs("/d/x.bin");
        let y = cs("/d/y.bin");
        assert_eq!(mavftp_client_rename(c, x.as_ptr(), y.as_ptr()), SUCCESS);
        assert!(!root.path().join("d/x.bin").exists());
        assert_eq!(
            fs::read(root.path().join("d/y.bin")).unwrap(),
            pattern(17, 4)
        );
        assert_eq!(mavftp_client_remove_file(c, y.as_ptr()), SUCCESS);
        assert!(!root.path().join("d/y.bin").exists());
        assert_eq!(
            mavftp_client_remove_file(c, y.as_ptr()),
            FILE_DOES_NOT_EXIST
        );
        assert_eq!(mavftp_client_remove_directory(c, d.as_ptr()), SUCCESS);
        assert!(!root.path().join("d").exists());

        // are_files_identical: true, false, missing remote.
        let u = cs("/u4095.bin");
        same = false;
        assert_eq!(
            mavftp_client_are_files_identical(c, lup.as_ptr(), u.as_ptr(), &mut same),
            SUCCESS
        );
        assert!(same, "identical files reported different");
        assert_eq!(
            mavftp_client_are_files_identical(c, lup.as_ptr(), ok.as_ptr(), &mut same),
            SUCCESS
        );
        assert!(!same, "different files reported identical");
        let r = mavftp_client_are_files_identical(c, lup.as_ptr(), missing.as_ptr(), &mut same);
        assert_eq!(r, FILE_DOES_NOT_EXIST);

        // set_target_compid: a component that heartbeats but serves no FTP
        // (our own link as 1/99) -> TIMEOUT soon with a short timeout; one
        // never heard -> NO_SYSTEM; back to 1 -> works again.
        let fake = Link::open(&format!("udpout://127.0.0.1:{port}"), 1, 99).expect("fake 1/99");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(mavftp_client_set_timeout(c, 100, 2), SUCCESS);
        assert_eq!(mavftp_client_set_target_compid(c, 99), SUCCESS);
        let t = Instant::now();
        assert_eq!(
            mavftp_client_create_directory(c, d.as_ptr()),
            TIMEOUT,
            "silent compid 99"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "TIMEOUT took {:?}",
            t.elapsed()
        );
        assert_eq!(mavftp_client_set_target_compid(c, 98), SUCCESS);
        let t = Instant::now();
        assert_eq!(
            mavftp_client_create_directory(c, d.as_ptr()),
            NO_SYSTEM,
            "never heard compid 98"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "NO_SYSTEM took {:?}",
            t.elapsed()
        );
        assert!(
            !root.path().join("d").exists(),
            "a request to another compid was served"
        );
        drop(fake);
        assert_eq!(mavftp_client_set_timeout(c, 500, 10), SUCCESS);
        assert_eq!(mavftp_client_set_target_compid(c, 1), SUCCESS);
        assert_eq!(
            mavftp_client_create_directory(c, d.as_ptr()),
            SUCCESS,
            "back to compid 1"
        );
        assert!(root.path().join("d").is_dir());
    }
    drop(side);
    // Checked last so that a wrong progress does not hide the rest.
    assert_eq!(
        burst_final,
        Some((SUCCESS, 4095, 4095)),
        "final progress of the burst download"
    );
}

/// Every size downloaded (burst and plain) and uploaded, listings of 0, 1
/// and 300 entries, and the error codes, through the Rust `Client`.
#[test]
fn rust_api_against_mavsdk_server() {
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let link = Link::open("udpin://127.0.0.1:0", 0, 0).expect("open link");
    let port = link.local_addr().expect("bound").port();
    let _server = start_mavsdk_server(root.path(), &format!("udpout://127.0.0.1:{port}"), &[]);
    let client = Client::new(&link, 1, 1).expect("client");
    wait_heard(&link);
    let r = |res: Result<(), mavftp::FtpError>, what: &str| {
        if let Err(e) = res {
            panic!("{what}: {:?} ({})", e.result, e.message);
        }
    };

    let src = root.path().join("src");
    fs::create_dir(&src).unwrap();
    let dst = root.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let up = local.path().join("up");
    fs::create_dir(&up).unwrap();
    for (i, &n) in SIZES.iter().enumerate() {
        fs::write(src.join(format!("s{n}.bin")), pattern(n, 10 + i as u32)).unwrap();
        fs::write(up.join(format!("u{n}.bin")), pattern(n, 30 + i as u32)).unwrap();
    }

    // Downloads, plain and burst, every size.
    for burst in [false, true] {
        let dl = local.path().join(format!("dl-{burst}"));
        fs::create_dir(&dl).unwrap();
        for (i, &n) in SIZES.iter().enumerate() {
            let t = Instant::now();
            let name = format!("s{n}.bin");
            r(
                client.download(&format!("/src/{name}"), &dl, burst, None),
                &format!("download {n} B burst {burst}"),
            );
            let got = fs::read(dl.join(&name)).unwrap();
            assert!(
                got == pattern(n, 10 + i as u32),
                "download {n} B burst {burst}: content differs (len {})",
                got.len()
            );
            eprintln!("download {n} B burst {burst}: {:?}", t.elapsed());
        }
        assert_eq!(
            fs::read_dir(&dl).unwrap().count(),
            SIZES.len(),
            "stray files in local_dir"
        );
    }

    // Uploads, every size.
    for (i, &n) in SIZES.iter().enumerate() {
        let t = Instant::now();
        let name = format!("u{n}.bin");
        r(
            client.upload(&up.join(&name), "/dst", None),
            &format!("upload {n} B"),
        );
        let got = fs::read(dst.join(&name)).unwrap();
        assert!(
            got == pattern(n, 30 + i as u32),
            "upload {n} B: content differs (len {})",
            got.len()
        );
        eprintln!("upload {n} B: {:?}", t.elapsed());
    }

    // Listings: 0, 1 and 300 entries (250 files of distinct sizes, 50 dirs).
    fs::create_dir(root.path().join("empty")).unwrap();
    let l = client.list_directory("/empty").expect("list empty dir");
    assert!(l.entries.is_empty(), "empty dir listed {:?}", l.entries);
    fs::create_dir(root.path().join("one")).unwrap();
    fs::write(root.path().join("one/only.txt"), b"12345").unwrap();
    let l = client.list_directory("/one").expect("list one");
    assert_eq!(l.files(), ["only.txt"]);
    assert!(l.dirs().is_empty());
    assert_eq!(l.entries[0].size_bytes, 5);
    let many = root.path().join("many");
    fs::create_dir(&many).unwrap();
    let mut want_files = Vec::new();
    let mut want_dirs = Vec::new();
    for i in 0..300 {
        if i % 6 == 5 {
            let n = format!("dir_{i:03}");
            fs::create_dir(many.join(&n)).unwrap();
            want_dirs.push(n);
        } else {
            let n = format!("file_{i:03}.dat");
            fs::write(many.join(&n), vec![7u8; i]).unwrap();
            want_files.push(n);
        }
    }
    let t = Instant::now();
    let l = client.list_directory("/many").expect("list 300");
    eprintln!("list 300: {:?}", t.elapsed());
    assert_eq!(l.entries.len(), 300);
    assert_eq!(l.dirs(), want_dirs);
    assert_eq!(l.files(), want_files);
    for e in &l.entries {
        if e.kind == EntryKind::File {
            let i: u64 = e.name[5..8].parse().unwrap();
            assert_eq!(e.size_bytes, i, "size of {}", e.name);
        }
    }

    // Result codes: missing file, existing directory, outside the root,
    // over-long path (the Rust API checks it too).
    let err = |res: Result<(), mavftp::FtpError>| res.expect_err("should fail").result;
    let dl = local.path().join("dl-err");
    fs::create_dir(&dl).unwrap();
    for burst in [false, true] {
        assert_eq!(
            err(client.download("/nope.bin", &dl, burst, None)),
            FtpResult::FileDoesNotExist
        );
    }
    assert_eq!(
        fs::read_dir(&dl).unwrap().count(),
        0,
        "failed download left a file"
    );
    assert_eq!(
        err(client.remove_file("/nope.bin")),
        FtpResult::FileDoesNotExist
    );
    assert_eq!(
        err(client.remove_directory("/nope")),
        FtpResult::FileDoesNotExist
    );
    assert_eq!(
        err(client.rename("/nope.bin", "/x.bin")),
        FtpResult::FileDoesNotExist
    );
    assert_eq!(err(client.create_directory("/one")), FtpResult::FileExists);
    assert_eq!(
        err(client.upload(&up.join("absent.bin"), "/dst", None)),
        FtpResult::FileDoesNotExist
    );
    let long = format!("/{}", "b".repeat(238));
    assert_eq!(err(client.remove_file(&long)), FtpResult::InvalidParameter);
    assert_eq!(
        client
            .are_files_identical(&up.join("u4095.bin"), "/nope.bin")
            .expect_err("missing")
            .result,
        FtpResult::FileDoesNotExist
    );

    // The rest through Rust: mkdir, rename a dir, rmdir, cmp.
    r(client.create_directory("/newdir"), "mkdir");
    assert!(root.path().join("newdir").is_dir());
    r(client.rename("/newdir", "/renamed"), "rename dir");
    assert!(root.path().join("renamed").is_dir() && !root.path().join("newdir").exists());
    r(client.remove_directory("/renamed"), "rmdir");
    assert!(!root.path().join("renamed").exists());
    assert!(
        client
            .are_files_identical(&up.join("u1048576.bin"), "/dst/u1048576.bin")
            .expect("cmp")
    );
    assert!(
        !client
            .are_files_identical(&up.join("u4095.bin"), "/src/s4095.bin")
            .expect("cmp")
    );
    r(client.remove_file("/dst/u0.bin"), "rm");
    assert!(!dst.join("u0.bin").exists());
}
