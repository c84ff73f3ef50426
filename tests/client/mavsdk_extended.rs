//! Issue 13's extended transfers against a server nobody here wrote:
//! MAVSDK 4.1.0's FtpServer (tests/interop/mavsdk_ftp_server.py). Its
//! server side is standard FTP: one session whose id is always 0, listings,
//! CalcFileCRC32.
//! Resume (the link closed at half, through a rate-limited UDP proxy),
//! verified transfers, memory and stream, directories (a tree, a second run
//! that moves nothing, an unreadable file, parallel 4 falling back to the
//! one session), and a listing answered during a download with parallel 2.

use std::ffi::c_void;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::byte_tap::ByteTap;
use crate::mavsdk::{
    ChildGuard, free_udp_port, start_mavsdk_server, start_mavsdk_server_as_nobody,
};
use mavftp::client::{Client, TransferOptions, TransferProgress, TransferReport};
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, UdpProxy};
use mavftp::{FtpOutcome, FtpResult};

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[2] ^ salt)
        .collect()
}

fn wait_heard(link: &Link) {
    let start = Instant::now();
    while !link.has_heard(1, 1) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no HEARTBEAT from MAVSDK 1/1"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Our client on `udpin` port `port` (retried: the port may just have been
/// released by a closed link).
fn client_on(port: u16) -> (Link, Client) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let link = loop {
        match Link::open(&format!("udpin://127.0.0.1:{port}"), 0, 0) {
            Ok(l) => break l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("reopen port {port}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("open udpin port {port}: {e}"),
        }
    };
    let client = Client::new(&link, 1, 1).expect("client");
    wait_heard(&link);
    (link, client)
}

/// MAVSDK's server talking straight to our client.
fn direct(root: &Path) -> (ChildGuard, Link, Client) {
    let port = free_udp_port();
    let server = start_mavsdk_server(root, &format!("udpout://127.0.0.1:{port}"), &[]);
    let (link, client) = client_on(port);
    (server, link, client)
}

/// MAVSDK's server reaching our client's `port` through an impaired UDP
/// proxy (the proxy's "up" direction carries the server's frames).
fn via_proxy(root: &Path, port: u16, imp: Impairment, nobody: bool) -> (ChildGuard, UdpProxy) {
    let forward = format!("127.0.0.1:{port}").parse().unwrap();
    let proxy =
        UdpProxy::start("127.0.0.1:0".parse().unwrap(), forward, imp.clone(), imp).expect("proxy");
    let url = format!("udpout://{}", proxy.listen_addr());
    let server = if nobody {
        start_mavsdk_server_as_nobody(root, &url, &[])
    } else {
        start_mavsdk_server(root, &url, &[])
    };
    (server, proxy)
}

type Done<T> = crossbeam_channel::Receiver<(FtpOutcome<T>, TransferProgress)>;

fn done_channel<T: Send + 'static>() -> (mavftp::client::ExCompletion<T>, Done<T>) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    (
        Box::new(move |o, p: &TransferProgress| {
            let _ = tx.send((o, p.clone()));
        }),
        rx,
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn verified_in(meta: &Path) -> Option<u64> {
    std::fs::read_to_string(meta)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("verified="))
        .and_then(|v| v.parse().ok())
}

/// Start a resumable download and close the link once half of it arrived.
fn cut_at_half(client: &Client, link: &Link, remote: &str, local: &Path) {
    let half = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&half);
    let (done, rx) = done_channel::<TransferReport>();
    client
        .download_ex_async(
            remote,
            local,
            &TransferOptions::default(),
            Some(Box::new(move |p: &TransferProgress| {
                if p.total_bytes > 0 && p.bytes_transferred * 2 >= p.total_bytes {
                    flag.store(true, Ordering::SeqCst);
                }
            })),
            done,
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !half.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "never reached half");
        std::thread::sleep(Duration::from_millis(5));
    }
    link.close();
    let (outcome, _) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(outcome.unwrap_err().result, FtpResult::Cancelled);
}

#[test]
fn resume_against_mavsdk_server_after_the_link_closed_at_half() {
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let len = 2_000_000usize;
    let data = pattern(len, 1);
    std::fs::write(root.path().join("log.bin"), &data).unwrap();
    let port = free_udp_port();
    let (_server, _proxy) = via_proxy(
        root.path(),
        port,
        Impairment::none().with_rate(400_000),
        false,
    );
    let (link, client) = client_on(port);
    cut_at_half(&client, &link, "/log.bin", local.path());
    drop(client);
    drop(link);
    let meta = local.path().join(".log.bin.mavftp-resume.meta");
    let kept = verified_in(&meta).expect("metadata kept");
    // Again through the same proxy, on the same port.
    let (link, client) = client_on(port);
    let mut tap = ByteTap::on(&link);
    let report = client
        .download_ex("/log.bin", local.path(), &TransferOptions::default(), None)
        .expect("resumed download");
    let fetched = tap.total();
    eprintln!(
        "MAVSDK server: cut with {kept} kept; resumed from {}, fetched {fetched} = {:.1} %",
        report.resumed_from,
        fetched as f64 * 100.0 / len as f64
    );
    assert_eq!(report.resumed_from, kept);
    assert!(report.verified);
    assert!((fetched as f64) < len as f64 * 0.55, "fetched {fetched}");
    assert_eq!(std::fs::read(local.path().join("log.bin")).unwrap(), data);
    assert_eq!(names(local.path()), vec!["log.bin"]);

    // A file changed in between: other size → from the start; same size
    // and mtime → the CRC32 check of a resumed download catches it and
    // starts over.
    let (mut link, mut client) = (link, client);
    let mut current = data;
    for (round, same_size) in [false, true].into_iter().enumerate() {
        std::fs::remove_file(local.path().join("log.bin")).unwrap();
        cut_at_half(&client, &link, "/log.bin", local.path());
        drop(client);
        drop(link);
        let file = root.path().join("log.bin");
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        let new_len = if same_size {
            current.len()
        } else {
            current.len() - 7
        };
        let new = pattern(new_len, 20 + round as u8);
        std::fs::write(&file, &new).unwrap();
        if same_size {
            // Same size and the old mtime: only the CRC32 check can tell.
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
        (link, client) = client_on(port);
        let report = client
            .download_ex("/log.bin", local.path(), &TransferOptions::default(), None)
            .expect("download of the changed file");
        eprintln!("MAVSDK server, changed file (same size: {same_size}): {report:?}");
        if same_size {
            assert!(report.repeated, "the CRC32 check starts over");
        }
        assert_eq!(report.resumed_from, 0, "same_size={same_size}");
        assert_eq!(std::fs::read(local.path().join("log.bin")).unwrap(), new);
        assert_eq!(names(local.path()), vec!["log.bin"]);
        current = new;
    }
}

#[test]
fn verified_memory_and_stream_transfers_against_mavsdk_server() {
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let data = pattern(500_000, 5);
    std::fs::write(root.path().join("p.bin"), &data).unwrap();
    std::fs::write(root.path().join("empty.bin"), b"").unwrap();
    let (_server, _link, client) = direct(root.path());
    for burst in [false, true] {
        let o = TransferOptions {
            use_burst: burst,
            verify: true,
            ..TransferOptions::default()
        };
        let r = client
            .download_ex("/p.bin", local.path(), &o, None)
            .unwrap();
        assert!(r.verified && !r.repeated, "{r:?}");
        assert_eq!(std::fs::read(local.path().join("p.bin")).unwrap(), data);
        assert_eq!(client.download_to_memory("/p.bin", &o).unwrap(), data);
        assert_eq!(client.download_to_memory("/empty.bin", &o).unwrap(), b"");
        let got: Arc<Mutex<Vec<u8>>> = Arc::default();
        let g = Arc::clone(&got);
        let r = client
            .download_stream(
                "/p.bin",
                &o,
                Box::new(move |offset, piece| {
                    let mut v = g.lock().unwrap();
                    assert_eq!(offset, v.len() as u64);
                    v.extend_from_slice(piece);
                    true
                }),
            )
            .unwrap();
        assert!(r.verified);
        assert_eq!(*got.lock().unwrap(), data, "burst={burst}");
    }
    let up = local.path().join("up.bin");
    std::fs::write(&up, pattern(300_000, 6)).unwrap();
    let o = TransferOptions {
        verify: true,
        ..TransferOptions::default()
    };
    let r = client.upload_ex(&up, "/", &o, None).unwrap();
    assert!(r.verified);
    assert_eq!(
        std::fs::read(root.path().join("up.bin")).unwrap(),
        pattern(300_000, 6)
    );
}

fn tree() -> Vec<(String, Vec<u8>)> {
    (0..24usize)
        .map(|i| {
            let dir = ["", "a/", "a/b/", "c/"][i % 4];
            let size = [0, 1, 100_000][i % 3] + i * 997;
            (format!("{dir}f{i:02}.bin"), pattern(size, i as u8))
        })
        .collect()
}

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    use std::os::unix::fs::PermissionsExt;
    for (rel, data) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    // Readable by a server running as nobody.
    fn open_up(d: &Path) {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                open_up(&p);
            } else {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
    }
    open_up(root);
}

fn check_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (rel, data) in files {
        let got = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(got == *data, "{rel} differs");
    }
}

#[test]
fn directories_against_mavsdk_server_with_parallel_4_falling_back_to_its_one_session() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let files = tree();
    write_tree(&root.path().join("logs"), &files);
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = root.path().join("logs/a/f05.bin");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let port = free_udp_port();
    let (_server, _proxy) = via_proxy(root.path(), port, Impairment::none(), true);
    let (link, client) = client_on(port);
    client.set_parallel(4);
    let report = client
        .download_dir("/logs", local.path(), &TransferOptions::default(), None)
        .expect("download_dir");
    assert_eq!(report.files, 24);
    assert_eq!(report.transferred, 23, "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].path, "a/f05.bin");
    eprintln!("MAVSDK server, unreadable file: {}", report.failed[0].error);
    let others: Vec<_> = files
        .iter()
        .filter(|(p, _)| p != "a/f05.bin")
        .cloned()
        .collect();
    check_tree(local.path(), &others);
    // Second run: nothing fetched (the failed file fails again).
    let mut tap = ByteTap::on(&link);
    let again = client
        .download_dir("/logs", local.path(), &TransferOptions::default(), None)
        .unwrap();
    assert_eq!(tap.total(), 0);
    assert_eq!(
        (again.transferred, again.skipped, again.failed.len()),
        (0, 23, 1)
    );
    // Upload a tree, twice.
    let up = tempfile::tempdir().unwrap();
    write_tree(up.path(), &files);
    std::fs::create_dir(root.path().join("in")).unwrap();
    std::fs::set_permissions(
        root.path().join("in"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let report = client
        .upload_dir(up.path(), "/in", &TransferOptions::default(), None)
        .expect("upload_dir");
    assert_eq!(report.result(), Ok(()));
    check_tree(&root.path().join("in"), &files);
    let again = client
        .upload_dir(up.path(), "/in", &TransferOptions::default(), None)
        .unwrap();
    assert_eq!((again.transferred, again.skipped), (0, 24));
}

#[test]
fn a_listing_during_a_download_from_mavsdk_server_is_answered_with_parallel_2() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big.bin"), pattern(1_000_000, 7)).unwrap();
    let local = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let imp = Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10));
    let (_server, _proxy) = via_proxy(root.path(), port, imp, false);
    let (_link, client) = client_on(port);
    client.set_parallel(2);
    let (done, rx) = done_channel::<TransferReport>();
    let o = TransferOptions {
        resume: false,
        ..TransferOptions::default()
    };
    let id = client
        .download_ex_async("/big.bin", local.path(), &o, None, done)
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let t = Instant::now();
    let listing = client.list_directory("/").expect("listing");
    let took = t.elapsed();
    eprintln!("MAVSDK server, 5760 B/s: listing answered after {took:?} during a download");
    assert_eq!(listing.files(), vec!["big.bin"]);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(rx.try_recv().is_err(), "the download still runs");
    assert!(client.cancel_op(id));
    let (outcome, _) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(outcome.unwrap_err().result, FtpResult::Cancelled);
}

// ---- the same through the C ABI (the exported functions of include/mavftp.h)

mod c_abi {
    use std::ffi::{c_char, c_void};

    #[repr(C)]
    pub struct Opaque {
        _p: [u8; 0],
    }
    #[repr(C)]
    pub struct Options {
        pub struct_size: usize,
        pub use_burst: bool,
        pub verify: bool,
        pub no_resume: bool,
        pub transfer_identical: bool,
        pub glob: *const c_char,
    }
    #[repr(C)]
    pub struct Progress {
        pub op_id: u64,
        pub bytes_transferred: u64,
        pub total_bytes: u64,
        pub bytes_per_second: f64,
        pub eta_seconds: f64,
        pub file_index: u32,
        pub file_count: u32,
        pub files_failed: u32,
        pub files_skipped: u32,
        pub current_file: *const c_char,
    }
    #[repr(C)]
    pub struct Buffer {
        pub data: *const u8,
        pub len: usize,
    }
    pub type TransferCb = Option<extern "C" fn(i32, *const Progress, *mut c_void)>;
    pub type BufferCb = Option<extern "C" fn(i32, *mut Buffer, *mut c_void)>;
    pub type ChunkCb = Option<extern "C" fn(u64, *const u8, usize, *mut c_void) -> bool>;

    unsafe extern "C" {
        pub fn mavftp_link_open(url: *const c_char, s: u8, c: u8, out: *mut *mut Opaque) -> i32;
        pub fn mavftp_link_free(link: *mut Opaque);
        pub fn mavftp_client_new(l: *mut Opaque, s: u8, c: u8, out: *mut *mut Opaque) -> i32;
        pub fn mavftp_client_free(client: *mut Opaque);
        pub fn mavftp_client_set_parallel(client: *mut Opaque, n: u32) -> i32;
        pub fn mavftp_transfer_options_init(o: *mut Options) -> i32;
        pub fn mavftp_client_download_ex(
            c: *mut Opaque,
            remote: *const c_char,
            local: *const c_char,
            o: *const Options,
            cb: TransferCb,
            user: *mut c_void,
            id: *mut u64,
        ) -> i32;
        pub fn mavftp_client_upload_ex(
            c: *mut Opaque,
            local: *const c_char,
            remote: *const c_char,
            o: *const Options,
            cb: TransferCb,
            user: *mut c_void,
            id: *mut u64,
        ) -> i32;
        pub fn mavftp_client_download_dir(
            c: *mut Opaque,
            remote: *const c_char,
            local: *const c_char,
            o: *const Options,
            cb: TransferCb,
            user: *mut c_void,
            id: *mut u64,
        ) -> i32;
        pub fn mavftp_client_download_to_memory(
            c: *mut Opaque,
            remote: *const c_char,
            o: *const Options,
            progress: TransferCb,
            done: BufferCb,
            user: *mut c_void,
            id: *mut u64,
        ) -> i32;
        pub fn mavftp_client_download_stream(
            c: *mut Opaque,
            remote: *const c_char,
            o: *const Options,
            chunk: ChunkCb,
            cb: TransferCb,
            user: *mut c_void,
            id: *mut u64,
        ) -> i32;
        pub fn mavftp_buffer_free(b: *mut Buffer);
    }
}

/// What the C callbacks of one operation saw.
#[derive(Default)]
struct CState {
    result: Option<i32>,
    bytes: u64,
    total: u64,
    files: (u32, u32, u32),
    data: Vec<u8>,
}

type Shared = (Mutex<CState>, std::sync::Condvar);

extern "C" fn c_transfer(result: i32, p: *const c_abi::Progress, user: *mut c_void) {
    // SAFETY: user is the test's &Shared; p is valid during the call.
    let (s, cv) = unsafe { &*user.cast::<Shared>() };
    let p = unsafe { &*p };
    let mut st = s.lock().unwrap();
    st.bytes = p.bytes_transferred;
    st.total = p.total_bytes;
    st.files = (p.file_count, p.files_failed, p.files_skipped);
    if result != 2 {
        st.result = Some(result);
        cv.notify_all();
    }
}

extern "C" fn c_buffer(result: i32, b: *mut c_abi::Buffer, user: *mut c_void) {
    // SAFETY: as above; the buffer is ours to free.
    let (s, cv) = unsafe { &*user.cast::<Shared>() };
    let mut st = s.lock().unwrap();
    if !b.is_null() {
        let buf = unsafe { &*b };
        st.data = unsafe { std::slice::from_raw_parts(buf.data, buf.len) }.to_vec();
        unsafe { c_abi::mavftp_buffer_free(b) };
    }
    st.result = Some(result);
    cv.notify_all();
}

extern "C" fn c_chunk(offset: u64, data: *const u8, len: usize, user: *mut c_void) -> bool {
    // SAFETY: as above.
    let (s, _) = unsafe { &*user.cast::<Shared>() };
    let mut st = s.lock().unwrap();
    assert_eq!(offset, st.data.len() as u64, "in order, no gap");
    st.data
        .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    true
}

fn c_wait(shared: &Shared) -> i32 {
    let (s, cv) = shared;
    let mut st = s.lock().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while st.result.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no final callback");
        st = cv.wait_timeout(st, left).unwrap().0;
    }
    st.result.unwrap()
}

fn cstr(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

fn cpath(p: &Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// A C client on udpin `port`, once it heard the server.
fn c_client(port: u16) -> (*mut c_abi::Opaque, *mut c_abi::Opaque) {
    let mut link = std::ptr::null_mut();
    let url = cstr(&format!("udpin://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: valid arguments; the port may take a moment to be free again.
    while unsafe { c_abi::mavftp_link_open(url.as_ptr(), 0, 0, &mut link) } != 1 {
        assert!(Instant::now() < deadline, "cannot open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = std::ptr::null_mut();
    assert_eq!(
        unsafe { c_abi::mavftp_client_new(link, 1, 1, &mut client) },
        1
    );
    (link, client)
}

#[test]
fn c_abi_extended_transfers_against_mavsdk_server() {
    const SUCCESS: i32 = 1;
    const CANCELLED: i32 = 13;
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let big = pattern(1_000_000, 31);
    std::fs::write(root.path().join("big.bin"), &big).unwrap();
    let files = tree();
    write_tree(&root.path().join("t"), &files);
    let port = free_udp_port();
    let (_server, _proxy) = via_proxy(
        root.path(),
        port,
        Impairment::none().with_rate(400_000),
        false,
    );
    let mut opts = c_abi::Options {
        struct_size: 0,
        use_burst: false,
        verify: false,
        no_resume: false,
        transfer_identical: false,
        glob: std::ptr::null(),
    };
    // SAFETY: a valid pointer.
    assert_eq!(
        unsafe { c_abi::mavftp_transfer_options_init(&mut opts) },
        SUCCESS
    );
    let (remote, dir) = (cstr("/big.bin"), cpath(local.path()));
    let mut id = 0u64;

    // Resume: the link freed at half, then the rest.
    let (link, client) = c_client(port);
    let shared: Shared = Default::default();
    let user = &shared as *const Shared as *mut c_void;
    // SAFETY: every pointer outlives the operation (we wait for its final call).
    let r = unsafe {
        c_abi::mavftp_client_download_ex(
            client,
            remote.as_ptr(),
            dir.as_ptr(),
            &opts,
            Some(c_transfer),
            user,
            &mut id,
        )
    };
    assert_eq!(r, SUCCESS);
    assert!(id > 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.0.lock().unwrap().bytes < 500_000 {
        assert!(Instant::now() < deadline, "never got half way");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: handles from the library; the link goes first.
    unsafe { c_abi::mavftp_link_free(link) };
    assert_eq!(c_wait(&shared), CANCELLED);
    unsafe { c_abi::mavftp_client_free(client) };
    let (link, client) = c_client(port);
    let shared: Shared = Default::default();
    let user = &shared as *const Shared as *mut c_void;
    opts.verify = true;
    let r = unsafe {
        c_abi::mavftp_client_download_ex(
            client,
            remote.as_ptr(),
            dir.as_ptr(),
            &opts,
            Some(c_transfer),
            user,
            &mut id,
        )
    };
    assert_eq!(r, SUCCESS);
    assert_eq!(c_wait(&shared), SUCCESS);
    assert_eq!(std::fs::read(local.path().join("big.bin")).unwrap(), big);
    assert_eq!(names(local.path()), vec!["big.bin"]);

    // Memory and stream.
    let shared: Shared = Default::default();
    let user = &shared as *const Shared as *mut c_void;
    let r = unsafe {
        c_abi::mavftp_client_download_to_memory(
            client,
            remote.as_ptr(),
            &opts,
            Some(c_transfer),
            Some(c_buffer),
            user,
            &mut id,
        )
    };
    assert_eq!(r, SUCCESS);
    assert_eq!(c_wait(&shared), SUCCESS);
    assert!(shared.0.lock().unwrap().data == big);
    let shared: Shared = Default::default();
    let user = &shared as *const Shared as *mut c_void;
    opts.use_burst = true;
    let r = unsafe {
        c_abi::mavftp_client_download_stream(
            client,
            remote.as_ptr(),
            &opts,
            Some(c_chunk),
            Some(c_transfer),
            user,
            &mut id,
        )
    };
    assert_eq!(r, SUCCESS);
    assert_eq!(c_wait(&shared), SUCCESS);
    assert!(shared.0.lock().unwrap().data == big);

    // A directory with 3 at once, then again: every file skipped.
    assert_eq!(
        unsafe { c_abi::mavftp_client_set_parallel(client, 3) },
        SUCCESS
    );
    let (t, pull) = (cstr("/t"), tempfile::tempdir().unwrap());
    let pull_c = cpath(pull.path());
    for round in 0..2 {
        let shared: Shared = Default::default();
        let user = &shared as *const Shared as *mut c_void;
        let r = unsafe {
            c_abi::mavftp_client_download_dir(
                client,
                t.as_ptr(),
                pull_c.as_ptr(),
                &opts,
                Some(c_transfer),
                user,
                &mut id,
            )
        };
        assert_eq!(r, SUCCESS);
        assert_eq!(c_wait(&shared), SUCCESS);
        let (count, failed, skipped) = shared.0.lock().unwrap().files;
        assert_eq!((count, failed), (24, 0));
        assert_eq!(skipped, if round == 0 { 0 } else { 24 });
        check_tree(pull.path(), &files);
    }

    // A verified upload.
    let up = local.path().join("up.bin");
    std::fs::write(&up, pattern(123_457, 3)).unwrap();
    let (up_c, slash) = (cpath(&up), cstr("/"));
    let shared: Shared = Default::default();
    let user = &shared as *const Shared as *mut c_void;
    let r = unsafe {
        c_abi::mavftp_client_upload_ex(
            client,
            up_c.as_ptr(),
            slash.as_ptr(),
            &opts,
            Some(c_transfer),
            user,
            &mut id,
        )
    };
    assert_eq!(r, SUCCESS);
    assert_eq!(c_wait(&shared), SUCCESS);
    assert_eq!(
        std::fs::read(root.path().join("up.bin")).unwrap(),
        pattern(123_457, 3)
    );
    unsafe {
        c_abi::mavftp_client_free(client);
        c_abi::mavftp_link_free(link);
    }
}
