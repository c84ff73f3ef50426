//! The client engine against our own server over the in-process link simulator.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mavftp::FtpResult;
use mavftp::client::{Client, EntryKind};
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::link::{IncomingFtp, Link};
use mavftp::protocol::Opcode;
use mavftp::server::Server;

struct Rig {
    _server_link: Link,
    _server: Server,
    client_link: Link,
    client: Client,
    root: tempfile::TempDir,
    local: tempfile::TempDir,
}

fn rig_with(up: Impairment, down: Impairment) -> Rig {
    let (client_link, server_link) = link_pair((245, 190), (1, 1), up, down);
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let server = Server::new(&server_link, root.path()).expect("server");
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(Duration::from_millis(200), 10);
    Rig {
        _server_link: server_link,
        _server: server,
        client_link,
        client,
        root,
        local,
    }
}

fn rig() -> Rig {
    rig_with(Impairment::none(), Impairment::none())
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[2] ^ salt)
        .collect()
}

fn no_part_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("read_dir").all(|e| {
        !e.expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("mavftp-part")
    })
}

#[test]
fn downloads_every_size_byte_for_byte_plain_and_burst() {
    let r = rig();
    for &len in &[0usize, 1, 238, 239, 240, 4095] {
        let data = pattern(len, len as u8);
        let name = format!("f{len}.bin");
        std::fs::write(r.root.path().join(&name), &data).expect("write");
        for burst in [false, true] {
            let out = r.local.path().join(&name);
            let _ = std::fs::remove_file(&out);
            r.client
                .download(&format!("/{name}"), r.local.path(), burst, None)
                .unwrap_or_else(|e| panic!("download {name} burst={burst}: {e}"));
            assert_eq!(
                std::fs::read(&out).expect("read"),
                data,
                "{name} burst={burst}"
            );
        }
    }
    assert!(no_part_files(r.local.path()));
}

#[test]
fn one_megabyte_burst_plain_and_upload_report_speed() {
    let r = rig();
    let data = pattern(1 << 20, 7);
    std::fs::write(r.root.path().join("big.bin"), &data).expect("write");
    for burst in [true, false] {
        let t = Instant::now();
        let progress_calls = Arc::new(Mutex::new(0u32));
        let pc = progress_calls.clone();
        r.client
            .download(
                "/big.bin",
                r.local.path(),
                burst,
                Some(Box::new(move |_p| {
                    if let Ok(mut g) = pc.lock() {
                        *g += 1;
                    }
                })),
            )
            .expect("download");
        let secs = t.elapsed().as_secs_f64();
        eprintln!("1 MB download burst={burst}: {:.2} MB/s", 1.0 / secs);
        assert_eq!(
            std::fs::read(r.local.path().join("big.bin")).expect("read"),
            data
        );
        let calls = *progress_calls.lock().expect("lock");
        assert!(
            calls >= 1 && calls <= 101 + (secs * 50.0) as u32,
            "progress calls {calls}"
        );
    }
    let up = r.local.path().join("up.bin");
    std::fs::write(&up, &data).expect("write");
    std::fs::create_dir(r.root.path().join("in")).expect("mkdir");
    let t = Instant::now();
    r.client.upload(&up, "/in", None).expect("upload");
    eprintln!("1 MB upload: {:.2} MB/s", 1.0 / t.elapsed().as_secs_f64());
    assert_eq!(
        std::fs::read(r.root.path().join("in/up.bin")).expect("read"),
        data
    );
}

#[test]
fn uploads_small_sizes_byte_for_byte() {
    let r = rig();
    for &len in &[0usize, 1, 239, 240, 4095] {
        let data = pattern(len, 3);
        let local = r.local.path().join(format!("u{len}"));
        std::fs::write(&local, &data).expect("write");
        r.client.upload(&local, "/", None).expect("upload");
        assert_eq!(
            std::fs::read(r.root.path().join(format!("u{len}"))).expect("read"),
            data
        );
        assert_eq!(
            r.client.are_files_identical(&local, &format!("/u{len}")),
            Ok(true)
        );
    }
}

/// Every window cap a user may set works, down to stop-and-wait (1).
#[test]
fn small_window_caps_transfer_byte_for_byte() {
    let data = pattern(20_000, 9);
    for caps in [1usize, 2, 5] {
        let r = rig_with(
            Impairment::none().with_loss(0.05).with_seed(caps as u64),
            Impairment::none()
                .with_loss(0.05)
                .with_seed(100 + caps as u64),
        );
        r.client.set_window_caps(caps, caps);
        std::fs::write(r.root.path().join("f.bin"), &data).expect("write");
        for burst in [false, true] {
            let out = r.local.path().join("f.bin");
            let _ = std::fs::remove_file(&out);
            r.client
                .download("/f.bin", r.local.path(), burst, None)
                .unwrap_or_else(|e| panic!("caps {caps} download burst={burst}: {e}"));
            assert_eq!(std::fs::read(&out).expect("read"), data, "caps {caps}");
        }
        let local = r.local.path().join("up.bin");
        std::fs::write(&local, &data).expect("write");
        r.client
            .upload(&local, "/", None)
            .unwrap_or_else(|e| panic!("caps {caps} upload: {e}"));
        assert_eq!(
            std::fs::read(r.root.path().join("up.bin")).expect("read"),
            data,
            "caps {caps} upload"
        );
    }
}

#[test]
fn directory_commands_and_listing() {
    let r = rig();
    r.client.create_directory("/d").expect("mkdir");
    assert_eq!(
        r.client.create_directory("/d").map_err(|e| e.result),
        Err(FtpResult::FileExists)
    );
    std::fs::write(r.root.path().join("d/b.txt"), b"hello").expect("write");
    std::fs::write(r.root.path().join("d/a.txt"), b"hi").expect("write");
    std::fs::create_dir(r.root.path().join("d/sub")).expect("mkdir");
    let l = r.client.list_directory("/d").expect("list");
    assert_eq!(l.files(), vec!["a.txt", "b.txt"]);
    assert_eq!(l.dirs(), vec!["sub"]);
    let b = l.entries.iter().find(|e| e.name == "b.txt").expect("b");
    assert_eq!((b.kind, b.size_bytes), (EntryKind::File, 5));
    let empty = r.client.list_directory("/d/sub").expect("list empty");
    assert!(empty.entries.is_empty());
    r.client.rename("/d/a.txt", "/d/c.txt").expect("rename");
    assert!(r.root.path().join("d/c.txt").exists());
    r.client.remove_file("/d/c.txt").expect("rm");
    assert_eq!(
        r.client.remove_file("/d/c.txt").map_err(|e| e.result),
        Err(FtpResult::FileDoesNotExist)
    );
    r.client.remove_directory("/d/sub").expect("rmdir");
    assert!(!r.root.path().join("d/sub").exists());
    let local = r.local.path().join("x");
    std::fs::write(&local, b"hellO").expect("write");
    assert_eq!(r.client.are_files_identical(&local, "/d/b.txt"), Ok(false));
}

#[test]
fn many_files_listing_spans_several_packets() {
    let r = rig();
    for i in 0..60 {
        std::fs::write(
            r.root
                .path()
                .join(format!("file_with_a_long_name_{i:03}.txt")),
            b"x",
        )
        .expect("write");
    }
    let l = r.client.list_directory("/").expect("list");
    assert_eq!(l.files().len(), 60);
    assert_eq!(l.files()[59], "file_with_a_long_name_059.txt");
}

#[test]
fn failed_download_leaves_no_part_file_and_keeps_existing_file() {
    let r = rig();
    let existing = r.local.path().join("missing.bin");
    std::fs::write(&existing, b"keep me").expect("write");
    for burst in [false, true] {
        let e = r
            .client
            .download("/missing.bin", r.local.path(), burst, None)
            .expect_err("must fail");
        assert_eq!(e.result, FtpResult::FileDoesNotExist);
    }
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
    assert!(no_part_files(r.local.path()));
    assert!(r.client.last_error().is_some());
}

#[test]
fn invalid_arguments_are_refused_up_front() {
    let r = rig();
    let called = Arc::new(Mutex::new(false));
    let c = called.clone();
    let e = r
        .client
        .download_async(
            "/x",
            &r.local.path().join("nope"),
            false,
            None,
            Box::new(move |_| *c.lock().expect("l") = true),
        )
        .expect_err("missing dir");
    assert_eq!(e.result, FtpResult::FileIoError);
    let e = r
        .client
        .upload(&r.local.path().join("nope"), "/", None)
        .expect_err("missing file");
    assert_eq!(e.result, FtpResult::FileDoesNotExist);
    let long = format!("/{}", "a".repeat(300));
    assert_eq!(
        r.client.list_directory(&long).map_err(|e| e.result),
        Err(FtpResult::InvalidParameter)
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(!*called.lock().expect("l"));
}

#[test]
fn operations_run_in_submission_order_and_callbacks_run_once() {
    let r = rig();
    std::fs::write(r.root.path().join("a"), pattern(3000, 1)).expect("write");
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let o = order.clone();
        r.client
            .download_async(
                "/a",
                r.local.path(),
                i % 2 == 0,
                None,
                Box::new(move |res| o.lock().expect("l").push((i, res.is_ok()))),
            )
            .expect("submit");
    }
    let t = Instant::now();
    while order.lock().expect("l").len() < 5 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        *order.lock().expect("l"),
        (0..5).map(|i| (i, true)).collect::<Vec<_>>()
    );
}

#[test]
fn cancel_ends_running_and_queued_operations() {
    // A slow link so the first transfer is still running when we cancel.
    let r = rig_with(
        Impairment::none().with_rate(20_000),
        Impairment::none().with_rate(20_000),
    );
    std::fs::write(r.root.path().join("big"), pattern(200_000, 2)).expect("write");
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let o = results.clone();
        r.client
            .download_async(
                "/big",
                r.local.path(),
                i == 0,
                None,
                Box::new(move |res| o.lock().expect("l").push(res.map_err(|e| e.result))),
            )
            .expect("submit");
    }
    std::thread::sleep(Duration::from_millis(300));
    r.client.cancel();
    let t = Instant::now();
    while results.lock().expect("l").len() < 3 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        *results.lock().expect("l"),
        vec![Err(FtpResult::Cancelled); 3]
    );
    assert!(no_part_files(r.local.path()));
    assert!(!r.local.path().join("big").exists());
    // The client still works after a cancel.
    std::fs::write(r.root.path().join("small"), b"ok").expect("write");
    r.client
        .download("/small", r.local.path(), false, None)
        .expect("after cancel");
}

#[test]
fn drop_with_work_in_flight_runs_every_callback_once_before_returning() {
    let r = rig_with(
        Impairment::none().with_rate(20_000),
        Impairment::none().with_rate(20_000),
    );
    std::fs::write(r.root.path().join("big"), pattern(100_000, 2)).expect("write");
    let count = Arc::new(Mutex::new(0));
    for _ in 0..4 {
        let c = count.clone();
        r.client
            .download_async(
                "/big",
                r.local.path(),
                false,
                None,
                Box::new(move |_| *c.lock().expect("l") += 1),
            )
            .expect("submit");
    }
    std::thread::sleep(Duration::from_millis(100));
    let Rig { client, local, .. } = r;
    drop(client);
    assert_eq!(*count.lock().expect("l"), 4);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(*count.lock().expect("l"), 4);
    assert!(no_part_files(local.path()));
}

#[test]
fn blocking_call_inside_callback_is_busy_and_async_from_callback_works() {
    let r = rig();
    std::fs::write(r.root.path().join("a"), b"abc").expect("write");
    let client = Arc::new(r.client);
    let inner = Arc::new(Mutex::new(None));
    let (tx, rx) = std::sync::mpsc::channel();
    let c2 = client.clone();
    let i2 = inner.clone();
    let dir = r.local.path().to_path_buf();
    client
        .list_directory_async(
            "/",
            Box::new(move |_| {
                *i2.lock().expect("l") = Some(c2.list_directory("/").map_err(|e| e.result));
                let tx2 = tx.clone();
                let _ = c2.download_async(
                    "/a",
                    &dir,
                    false,
                    None,
                    Box::new(move |res| {
                        let _ = tx2.send(res.is_ok());
                    }),
                );
            }),
        )
        .expect("submit");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
    assert_eq!(*inner.lock().expect("l"), Some(Err(FtpResult::Busy)));
}

#[test]
fn silent_target_gives_no_system_and_known_silent_target_gives_timeout() {
    let (client_link, _other) =
        link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    // System 9 never sends anything on this link.
    let client = Client::new(&client_link, 9, 1).expect("client");
    client.set_timeout(Duration::from_millis(30), 2);
    assert_eq!(
        client.list_directory("/").map_err(|e| e.result),
        Err(FtpResult::NoSystem)
    );
    let r = rig();
    r.client.list_directory("/").expect("heard once");
    // The server goes away: a known target that stops answering is a timeout.
    let Rig {
        _server,
        client,
        client_link,
        ..
    } = r;
    drop(_server);
    client.set_timeout(Duration::from_millis(30), 2);
    assert_eq!(
        client.list_directory("/").map_err(|e| e.result),
        Err(FtpResult::Timeout)
    );
    drop(client_link);
}

fn impaired(seed: u64) -> Impairment {
    Impairment::none()
        .with_loss(0.1)
        .with_duplicate(0.05)
        .with_reorder(0.05, Duration::from_millis(5))
        .with_corrupt(0.02)
        .with_seed(seed)
}

#[test]
fn impaired_link_transfers_are_byte_identical_or_timeout_without_part_files() {
    let r = rig_with(impaired(11), impaired(12));
    r.client.set_timeout(Duration::from_millis(50), 20);
    let data = pattern(20_000, 9);
    std::fs::write(r.root.path().join("f"), &data).expect("write");
    for burst in [false, true] {
        let _ = std::fs::remove_file(r.local.path().join("f"));
        match r.client.download("/f", r.local.path(), burst, None) {
            Ok(()) => {
                let got = std::fs::read(r.local.path().join("f")).expect("read");
                let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
                assert!(
                    got == data,
                    "burst={burst}: got {} bytes, want {}, first difference at {first_diff:?}",
                    got.len(),
                    data.len()
                );
            }
            Err(e) => {
                assert_eq!(e.result, FtpResult::Timeout, "{e}");
                assert!(!r.local.path().join("f").exists());
            }
        }
        assert!(no_part_files(r.local.path()));
    }
    let up = r.local.path().join("up");
    std::fs::write(&up, &data).expect("write");
    match r.client.upload(&up, "/", None) {
        Ok(()) => assert_eq!(std::fs::read(r.root.path().join("up")).expect("read"), data),
        Err(e) => assert_eq!(e.result, FtpResult::Timeout, "{e}"),
    }
}

/// A lost packet costs about one round trip, not the base timeout: with a
/// 0.5 s base timeout and 5 % loss each way, 100 KB over a 2 ms link would
/// take over 10 s stop-and-wait with fixed timeouts.
#[test]
fn windowed_transfers_recover_losses_in_about_one_round_trip() {
    let lossy = |seed| {
        Impairment::none()
            .with_delay(Duration::from_millis(2))
            .with_loss(0.05)
            .with_seed(seed)
    };
    let r = rig_with(lossy(21), lossy(22));
    r.client.set_timeout(Duration::from_millis(500), 10);
    let data = pattern(100_000, 3);
    std::fs::write(r.root.path().join("w"), &data).expect("write");
    r.client.list_directory("/").expect("list");
    for burst in [false, true] {
        let _ = std::fs::remove_file(r.local.path().join("w"));
        let t = Instant::now();
        r.client
            .download("/w", r.local.path(), burst, None)
            .expect("download");
        let took = t.elapsed();
        assert_eq!(
            std::fs::read(r.local.path().join("w")).expect("read"),
            data,
            "burst={burst}"
        );
        assert!(took < Duration::from_secs(5), "burst={burst}: {took:?}");
    }
    let up = r.local.path().join("w");
    std::fs::create_dir(r.root.path().join("up")).expect("mkdir");
    let t = Instant::now();
    r.client.upload(&up, "/up", None).expect("upload");
    let took = t.elapsed();
    assert_eq!(
        std::fs::read(r.root.path().join("up/w")).expect("read"),
        data
    );
    assert!(took < Duration::from_secs(5), "upload: {took:?}");
}

/// A 57600-baud-class radio: 5760 B/s, 10 ms each way, `loss` (frames lost
/// after their airtime) drawn from `seed`.
pub(crate) fn radio_5760(loss: f64, seed: u64) -> Impairment {
    Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10))
        .with_loss(loss)
        .with_seed(seed)
}

/// Burst-download `data` from our server over `up` / `down` at the client's
/// defaults, byte-exact; returns the requests the server's link received
/// and the replies the client's link received, in order.
fn burst_from_our_server(
    up: Impairment,
    down: Impairment,
    data: &[u8],
) -> (Vec<IncomingFtp>, Vec<IncomingFtp>) {
    let (client_link, server_link) = link_pair((245, 190), (1, 1), up, down);
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("log.bin"), data).expect("write");
    let requests = server_link.subscribe(|m| !m.packet.opcode.is_reply());
    let replies = client_link.subscribe(|m| m.packet.opcode.is_reply());
    let _server = Server::new(&server_link, root.path()).expect("server");
    let client = Client::new(&client_link, 1, 1).expect("client");
    client
        .download("/log.bin", local.path(), true, None)
        .expect("download");
    assert!(std::fs::read(local.path().join("log.bin")).expect("read") == data);
    (
        requests.receiver.try_iter().collect(),
        replies.receiver.try_iter().collect(),
    )
}

/// On a slow radio our server paces a burst at the link's rate and ends a
/// round after 1 s of airtime in which the client sent nothing (for
/// pymavlink). The client's keep-alives keep the round going: the whole
/// file comes in ONE burst round, with no plain read (before, every second
/// cost a round trip and the client then switched to plain reads).
#[test]
fn a_burst_over_a_slow_paced_link_is_one_round_to_the_end() {
    // About 3.5 s of airtime.
    let data = pattern(18_000, 41);
    let (requests, _) = burst_from_our_server(radio_5760(0.0, 1), radio_5760(0.0, 1), &data);
    let seen: Vec<Opcode> = requests.iter().map(|m| m.packet.opcode).collect();
    let n = |op: Opcode| seen.iter().filter(|o| **o == op).count();
    assert_eq!(n(Opcode::BurstReadFile), 1, "burst rounds: {seen:?}");
    assert_eq!(n(Opcode::ReadFile), 0, "plain reads: {seen:?}");
    assert!(n(Opcode::None) >= 2, "keep-alives: {seen:?}");
}

/// Our server answers keep-alives: once one is answered, the client reads
/// the holes of a lossy burst while the round still streams (a server that
/// does not answer, such as MAVSDK's before 4.0, whose bursts read where its
/// last ReadFile left off, gets its holes read after its round; see
/// quirks.rs). Over a lossy 5760 B/s radio a round lasts to the end of the
/// file: reads must reach the server well before that round's last packet.
#[test]
fn holes_are_read_while_the_round_streams_once_a_keepalive_is_answered() {
    // About 7 s of airtime.
    let data = pattern(40_000, 43);
    let (requests, replies) =
        burst_from_our_server(radio_5760(0.03, 11), radio_5760(0.03, 12), &data);
    let first_read = requests
        .iter()
        .find(|m| m.packet.opcode == Opcode::ReadFile)
        .map(|m| m.received_at)
        .expect("3 % loss made no hole to read");
    let last_burst_packet = replies
        .iter()
        .rev()
        .find(|m| m.packet.req_opcode == Opcode::BurstReadFile)
        .map(|m| m.received_at)
        .expect("burst packets");
    assert!(
        first_read + Duration::from_secs(2) < last_burst_packet,
        "the first hole was read {:?} before the last burst packet arrived",
        last_burst_packet.saturating_duration_since(first_read)
    );
}
