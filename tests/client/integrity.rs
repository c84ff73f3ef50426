//! Issue 9, client side: never SUCCESS on wrong bytes, bounded input, and
//! manners with other ground stations. Each test is one item of the issue
//! (named in its doc comment); the fakes are in tests/fake_server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake_server::{FakeServer, Personality, SETTLE, has_part_file, pattern};
use mavftp::FtpResult;
use mavftp::client::{Client, EntryKind};
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::protocol::{FtpPacket, Opcode};
use mavftp::server::Server;

/// Our client (library defaults: 0.5 s × 10) against a fake on an
/// in-process link (drop order: client first).
struct Rig {
    client: Client,
    fake: FakeServer,
    local: tempfile::TempDir,
    links: (Link, Link),
}

fn rig(p: Personality) -> Rig {
    let (client_link, server_link) =
        link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let fake = FakeServer::start(&server_link, p);
    let client = Client::new(&client_link, 1, 1).expect("client");
    Rig {
        client,
        fake,
        local: tempfile::tempdir().expect("tempdir"),
        links: (client_link, server_link),
    }
}

impl Rig {
    /// Download `remote` and return the result and, on success, the bytes.
    fn get(&self, remote: &str, burst: bool) -> Result<Vec<u8>, mavftp::FtpError> {
        let name = remote.rsplit('/').next().expect("name");
        let out = self.local.path().join(name);
        let _ = std::fs::remove_file(&out);
        self.client
            .download(remote, self.local.path(), burst, None)
            .map(|()| std::fs::read(&out).expect("downloaded file"))
    }

    /// A second ground station (own ids `own`) on its own link to the fake.
    fn station(&self, own: (u8, u8)) -> Station {
        let (a, b) = link_pair(own, (1, 1), Impairment::none(), Impairment::none());
        self.fake.serve_link(&b);
        let sub = a.subscribe(|m| m.packet.opcode.is_reply());
        Station {
            link: a,
            _server_side: b,
            sub,
            seq: u16::from(own.0) * 200,
        }
    }
}

/// A bare ground station: one request at a time, raw replies.
struct Station {
    link: Link,
    _server_side: Link,
    sub: mavftp::link::FtpSubscription,
    seq: u16,
}

impl Station {
    fn call(&mut self, op: Opcode, session: u8, offset: u32, data: &[u8]) -> FtpPacket {
        let mut req = FtpPacket::request(op, self.seq);
        self.seq = self.seq.wrapping_add(10);
        req.session = session;
        req.offset = offset;
        req.data = data.to_vec();
        self.link.send_ftp(1, 1, &req).expect("send");
        loop {
            let m = self
                .sub
                .receiver
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_else(|_| panic!("no reply to {op:?}"));
            if m.packet.seq == req.seq.wrapping_add(1) {
                return m.packet;
            }
        }
    }
}

fn assert_byte_exact(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}: {} bytes, expected {} (first difference at {:?})",
        got.len(),
        want.len(),
        got.iter().zip(want).position(|(a, b)| a != b)
    );
}

/// Issue 9 item 1: two clients on one link (same own ids) download two
/// different 1 MiB files from our server at the same time, 20 rounds: each
/// SUCCESS and byte-exact (distinct session ids and seqs per client).
#[test]
fn two_clients_on_one_link_download_different_files_at_once() {
    let (client_link, server_link) =
        link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let root = tempfile::tempdir().expect("tempdir");
    let _server = Server::new(&server_link, root.path()).expect("server");
    let files: Vec<Vec<u8>> = (0..2).map(|i| pattern(1 << 20, 11 + i)).collect();
    for (i, f) in files.iter().enumerate() {
        std::fs::write(root.path().join(format!("f{i}.bin")), f).expect("write");
    }
    let clients: Vec<Arc<Client>> = (0..2)
        .map(|_| {
            let c = Client::new(&client_link, 1, 1).expect("client");
            c.set_timeout(Duration::from_millis(300), 10);
            Arc::new(c)
        })
        .collect();
    for round in 0..20 {
        let burst = round % 2 == 1;
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let client = Arc::clone(&clients[i]);
                let want = files[i].clone();
                std::thread::spawn(move || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    client
                        .download(&format!("/f{i}.bin"), dir.path(), burst, None)
                        .unwrap_or_else(|e| panic!("round {round} client {i}: {e}"));
                    let got = std::fs::read(dir.path().join(format!("f{i}.bin"))).expect("read");
                    assert_byte_exact(&got, &want, &format!("round {round} client {i}"));
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread");
        }
    }
}

/// Issue 9 items 1 and 15 against single-session servers: two clients on
/// one link download different files at once. MAVSDK's server gives both
/// session 0 and silently switches files on a new open; PX4 refuses the
/// second open; ArduPilot refuses the second id. Each download ends
/// byte-exact or with a clean error, never SUCCESS with the other's bytes.
#[test]
fn two_clients_on_one_link_never_succeed_with_each_others_bytes() {
    for p in [
        Personality::Mavsdk41,
        Personality::Px4,
        Personality::ArduPilot,
    ] {
        let r = rig(p);
        let files: Vec<Vec<u8>> = (0..2).map(|i| pattern(200_000, 21 + i)).collect();
        for (i, f) in files.iter().enumerate() {
            r.fake.put_file(&format!("/f{i}.bin"), f);
        }
        let second = Client::new(&r.links.0, 1, 1).expect("client");
        let clients = [&r.client, &second];
        let mut ok = 0;
        for round in 0..4 {
            let burst = round % 2 == 1;
            let results: Vec<_> = std::thread::scope(|s| {
                let joins: Vec<_> = (0..2)
                    .map(|i| {
                        let client = clients[i];
                        let local = r.local.path().join(format!("c{i}-{round}"));
                        std::fs::create_dir(&local).expect("mkdir");
                        s.spawn(move || {
                            let res = client.download(&format!("/f{i}.bin"), &local, burst, None);
                            (i, local, res)
                        })
                    })
                    .collect();
                joins.into_iter().map(|j| j.join().expect("join")).collect()
            });
            for (i, local, res) in results {
                let what = format!("{} round {round} client {i}", p.name());
                match res {
                    Ok(()) => {
                        let got = std::fs::read(local.join(format!("f{i}.bin"))).expect("read");
                        assert_byte_exact(&got, &files[i], &what);
                        ok += 1;
                    }
                    Err(e) => {
                        assert!(
                            matches!(
                                e.result,
                                FtpResult::Busy | FtpResult::Timeout | FtpResult::FileIoError
                            ),
                            "{what}: unclean error {e}"
                        );
                        assert!(!has_part_file(&local), "{what}: part file left");
                        println!("{what}: {e}");
                    }
                }
            }
        }
        println!("{}: {ok} of 8 downloads succeeded", p.name());
        assert!(ok >= 4, "{}: only {ok} of 8 downloads succeeded", p.name());
        assert_eq!(
            r.fake.stats().count(Opcode::ResetSessions),
            0,
            "a client reset sessions"
        );
    }
}

/// Issue 9 item 2: a ReadFile ACK whose offset is not the one asked for is
/// never written (the fake answers every 7th read with the next chunk,
/// labelled as such): the download still ends byte-exact.
#[test]
fn read_replies_with_another_offset_are_not_used() {
    for p in [
        Personality::Px4,
        Personality::ArduPilot,
        Personality::Mavsdk41,
    ] {
        let r = rig(p);
        let data = pattern(100_000, 5);
        r.fake.put_file("/f.bin", &data);
        r.fake.set_read_offset_glitch(7);
        let got = r
            .get("/f.bin", false)
            .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
        assert_byte_exact(&got, &data, p.name());
        // Every 11th burst packet but a round's last carried a wrong
        // offset (how many bursts ran depends on the client's probe).
        let st = r.fake.stats();
        let rounds = r.fake.bursts().len() as u64;
        assert!(
            st.glitches >= 1 && st.glitches + rounds >= st.burst_packets / 11,
            "{}: {} wrong offsets in {} burst packets ({rounds} rounds)",
            p.name(),
            st.glitches,
            st.burst_packets
        );
    }
}

/// Issue 9 item 2 for bursts: a burst packet whose offset does not fit its
/// seq (every 11th claims the next packet's offset with its own bytes) is
/// dropped; the download still ends byte-exact.
#[test]
fn burst_packets_whose_offset_does_not_fit_their_seq_are_not_used() {
    for p in [
        Personality::Px4,
        Personality::ArduPilot,
        Personality::Mavsdk41,
    ] {
        let r = rig(p);
        let data = pattern(150_000, 6);
        r.fake.put_file("/f.bin", &data);
        r.fake.set_burst_offset_glitch(11);
        let got = r
            .get("/f.bin", true)
            .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
        assert_byte_exact(&got, &data, p.name());
        assert!(
            r.fake.stats().glitches > 10,
            "{}: the fake sent no wrong offsets",
            p.name()
        );
    }
}

/// Issue 9 item 3 (client side): a local file of 4 GiB or more is refused
/// up front with FILE_IO_ERROR and a message; nothing goes on the wire and
/// nothing is read.
#[test]
fn upload_of_4_gib_or_more_is_refused_up_front() {
    let r = rig(Personality::Px4);
    r.fake.mkdir("/up");
    let big = r.local.path().join("big.bin");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len((1u64 << 32) + 1).expect("sparse file");
    drop(f);
    let t = Instant::now();
    let e = r.client.upload(&big, "/up", None).expect_err("refused");
    assert_eq!(e.result, FtpResult::FileIoError, "{e}");
    assert!(e.message.contains("32-bit"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(r.fake.stats().count(Opcode::CreateFile), 0);
}

/// Issue 9 item 8: a listing that never ends is cut at 100,000 entries
/// with PROTOCOL_ERROR instead of growing the client without bound.
#[test]
fn endless_listing_ends_in_protocol_error() {
    let r = rig(Personality::ArduPilot);
    r.fake.put_listing("/endless", None);
    let (tx, rx) = crossbeam_channel::bounded(1);
    r.client
        .list_directory_async(
            "/endless",
            Box::new(move |res| {
                let _ = tx.send(res);
            }),
        )
        .expect("accepted");
    let res = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the endless listing never ended");
    let e = res.expect_err("an endless listing cannot succeed");
    assert_eq!(e.result, FtpResult::ProtocolError, "{e}");
    assert!(e.message.contains("100000"), "{e}");
}

/// Issue 9 item 8: a file whose data never ends is read no further than
/// 1 MiB (or a quarter) beyond the size announced at open: PROTOCOL_ERROR,
/// no part file left.
#[test]
fn endless_file_stops_soon_after_its_announced_size() {
    for burst in [false, true] {
        let r = rig(Personality::Px4);
        r.fake.put_endless("/grow.bin", 10_000);
        let (tx, rx) = crossbeam_channel::bounded(1);
        r.client
            .download_async(
                "/grow.bin",
                r.local.path(),
                burst,
                None,
                Box::new(move |res| {
                    let _ = tx.send(res);
                }),
            )
            .expect("accepted");
        let res = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("burst={burst}: the endless download never ended"));
        let e = res.expect_err("an endless file cannot succeed");
        assert_eq!(e.result, FtpResult::ProtocolError, "burst={burst}: {e}");
        assert!(e.message.contains("announced"), "{e}");
        assert!(!has_part_file(r.local.path()), "part file left");
    }
}

/// Issue 9 item 8: `@` virtual paths (ArduPilot's and PX4's @PARAM, whose
/// announced size is fake) may run far beyond the announced size.
#[test]
fn virtual_paths_may_run_far_beyond_their_announced_size() {
    let r = rig(Personality::Px4);
    // More than the 1 MiB a regular file may run past its announced size.
    let data = pattern(1_300_000, 9);
    r.fake.put_virtual("@PARAM/param.pck", &data, 65_535);
    for burst in [false, true] {
        let got = r.get("@PARAM/param.pck", burst).expect("download");
        assert_byte_exact(&got, &data, &format!("burst={burst}"));
    }
}

/// Resident set size of this process in bytes (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Issue 9 item 9: an upload reads the local file as it sends it: a 2 GiB
/// (sparse) file does not grow the process by more than a few MB.
#[test]
fn upload_is_streamed_from_disk() {
    let r = rig(Personality::Px4);
    r.fake.mkdir("/up");
    let big = r.local.path().join("big.bin");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(2 << 30).expect("sparse file");
    drop(f);
    let before = rss();
    let (tx, rx) = crossbeam_channel::bounded(8);
    let started = Arc::new(Mutex::new(None::<u64>));
    let seen = Arc::clone(&started);
    r.client
        .upload_async(
            &big,
            "/up",
            Some(Box::new(move |p| {
                if p.bytes_transferred > 1 << 20 {
                    let mut s = seen.lock().expect("lock");
                    if s.is_none() {
                        *s = Some(rss());
                    }
                }
            })),
            Box::new(move |res| {
                let _ = tx.send(res);
            }),
        )
        .expect("accepted");
    let deadline = Instant::now() + Duration::from_secs(30);
    while started.lock().expect("lock").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let during = started
        .lock()
        .expect("lock")
        .expect("the upload never progressed");
    r.client.cancel();
    let res = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("completion");
    assert_eq!(res.map_err(|e| e.result), Err(FtpResult::Cancelled));
    let grew = during.saturating_sub(before);
    assert!(
        grew < 200 << 20,
        "RSS grew by {} MB during the upload",
        grew >> 20
    );
}

/// Issue 9 item 10: listing entries whose name contains `/` or a newline
/// or is empty, or whose size field is malformed, never reach the
/// application; the well-formed ones do.
#[test]
fn listing_entries_with_unsafe_names_or_bad_sizes_are_left_out() {
    let r = rig(Personality::Px4);
    let raw: Vec<Vec<u8>> = [
        &b"Fgood.bin\t12"[..],
        b"F../../etc/passwd\t5",
        b"Fa/b\t5",
        b"Fline\nbreak\t5",
        b"F\t5",
        b"Fnosize",
        b"Fbigsize\t99999999999999999999999",
        b"D",
        b"Dsub/dir",
        b"Dlogs",
        b"Fhuge.bin\t5000000000",
    ]
    .iter()
    .map(|e| e.to_vec())
    .collect();
    r.fake.put_listing("/odd", Some(raw));
    let listing = r.client.list_directory("/odd").expect("listing");
    let names: Vec<(&str, EntryKind, u64)> = listing
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.size_bytes))
        .collect();
    assert_eq!(
        names,
        vec![
            ("good.bin", EntryKind::File, 12),
            ("huge.bin", EntryKind::File, 5_000_000_000),
            ("logs", EntryKind::Directory, 0),
        ]
    );
}

/// Issue 9 item 11: a client whose target system is 0 ("first heard")
/// waits for a system to be heard (up to timeout × retries) instead of
/// failing with NO_SYSTEM at once.
#[test]
fn target_system_0_waits_for_a_system_to_be_heard() {
    // Two application-owned links joined by a bridge that stays cut for 1 s.
    type Sink = Arc<Mutex<Option<Link>>>;
    let to_server: Sink = Arc::new(Mutex::new(None));
    let to_client: Sink = Arc::new(Mutex::new(None));
    let open_at = Instant::now() + Duration::from_secs(1);
    let bridge = |peer: Sink| {
        move |frame: &[u8]| {
            if Instant::now() < open_at {
                return;
            }
            if let Some(l) = peer.lock().expect("lock").as_ref() {
                let _ = l.feed(frame);
            }
        }
    };
    let client_link =
        Link::open_custom(245, 190, Box::new(bridge(Arc::clone(&to_server)))).expect("link");
    let server_link =
        Link::open_custom(1, 1, Box::new(bridge(Arc::clone(&to_client)))).expect("link");
    *to_server.lock().expect("lock") = Some(server_link.clone());
    *to_client.lock().expect("lock") = Some(client_link.clone());
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("a.txt"), b"hello").expect("write");
    let _server = Server::new(&server_link, root.path()).expect("server");
    let client = Client::new(&client_link, 0, 0).expect("client");
    client.set_timeout(Duration::from_millis(500), 10);
    let t = Instant::now();
    let listing = client
        .list_directory("/")
        .expect("listing once the system is heard");
    assert_eq!(listing.files(), vec!["a.txt"]);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "did not wait: {:?}",
        t.elapsed()
    );
    // Nobody at all: NO_SYSTEM after timeout × retries, not at once.
    let lonely_link = Link::open_custom(245, 190, Box::new(|_: &[u8]| {})).expect("link");
    let lonely = Client::new(&lonely_link, 0, 0).expect("client");
    lonely.set_timeout(Duration::from_millis(100), 3);
    let t = Instant::now();
    let e = lonely.list_directory("/").expect_err("nobody there");
    assert_eq!(e.result, FtpResult::NoSystem, "{e}");
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "gave up after {:?}",
        t.elapsed()
    );
    drop(client);
    drop(lonely);
    for l in [&to_server, &to_client] {
        l.lock().expect("lock").take();
    }
}

/// Issue 9 item 13: a panic inside an operation (here in the progress
/// callback) still ends it: the completion runs with UNKNOWN and the
/// panic's text, and the client goes on working.
#[test]
fn a_panic_inside_an_operation_still_ends_it_with_unknown() {
    let r = rig(Personality::Px4);
    let data = pattern(50_000, 3);
    r.fake.put_file("/f.bin", &data);
    let e = r
        .client
        .download(
            "/f.bin",
            r.local.path(),
            false,
            Some(Box::new(|_| panic!("progress callback exploded"))),
        )
        .expect_err("the panic ends the download");
    assert_eq!(e.result, FtpResult::Unknown, "{e}");
    assert!(e.message.contains("progress callback exploded"), "{e}");
    assert_eq!(
        r.client
            .last_error()
            .as_deref()
            .map(|m| m.contains("exploded")),
        Some(true)
    );
    let (tx, rx) = crossbeam_channel::bounded(1);
    r.client
        .download_async(
            "/f.bin",
            r.local.path(),
            true,
            Some(Box::new(|_| panic!("again"))),
            Box::new(move |res| {
                let _ = tx.send(res);
            }),
        )
        .expect("accepted");
    let res = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("completion ran");
    assert_eq!(res.map_err(|e| e.result), Err(FtpResult::Unknown));
    assert!(!has_part_file(r.local.path()), "part file left");
    let got = r.get("/f.bin", true).expect("the client still works");
    assert_byte_exact(&got, &data, "after the panics");
}

/// Issue 9 item 15: the client never sends ResetSessions (not at start,
/// not as a retry), and closes only the sessions it opened.
#[test]
fn client_never_resets_sessions() {
    for p in [
        Personality::Px4,
        Personality::ArduPilot,
        Personality::Mavsdk41,
    ] {
        let r = rig(p);
        let data = pattern(10_000, 4);
        r.fake.put_file("/d/f.bin", &data);
        let up = r.local.path().join("up.bin");
        std::fs::write(&up, &data).expect("write");
        for burst in [false, true] {
            r.get("/d/f.bin", burst).expect("download");
        }
        let _ = r.get("/d/missing.bin", false);
        r.client.upload(&up, "/d", None).expect("upload");
        r.client.list_directory("/d").expect("list");
        let log = r.fake.log();
        assert!(
            log.iter()
                .all(|q| q.opcode != Opcode::ResetSessions.to_u8()),
            "{}: ResetSessions sent",
            p.name()
        );
        // Every Terminate names a session an Open/Create ACK gave us.
        let terminates = log
            .iter()
            .filter(|q| q.opcode == Opcode::TerminateSession.to_u8())
            .count();
        assert!(terminates >= 3, "{}: {terminates} closes", p.name());
        assert_eq!(
            r.fake.open_sessions_settled(SETTLE),
            0,
            "{}: a session left open",
            p.name()
        );
    }
}

/// Issue 9 item 15: while another ground station holds ArduPilot's single
/// session, our open is refused (InvalidSession); the client waits with
/// back-off and gets in once the other closes, instead of failing at once.
#[test]
fn ardupilot_open_waits_while_another_station_holds_the_session() {
    let r = rig(Personality::ArduPilot);
    let data = pattern(30_000, 7);
    r.fake.put_file("/mine.bin", &data);
    r.fake.put_file("/theirs.bin", &pattern(1000, 8));
    let mut other = r.station((246, 190));
    let open = other.call(Opcode::OpenFileRO, 0, 0, b"/theirs.bin");
    assert_eq!(open.opcode, Opcode::Ack);
    let t = Instant::now();
    let releaser = std::thread::spawn(move || {
        // The other station reads for 1.5 s, then closes.
        while t.elapsed() < Duration::from_millis(1500) {
            let p = other.call(Opcode::ReadFile, 0, 0, &[0; 100]);
            assert_eq!(p.opcode, Opcode::Ack);
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            other.call(Opcode::TerminateSession, 0, 0, &[]).opcode,
            Opcode::Ack
        );
        other
    });
    r.client.set_timeout(Duration::from_millis(500), 10);
    let got = r.get("/mine.bin", true).expect("waited for the session");
    assert_byte_exact(&got, &data, "after waiting");
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "did not wait: {:?}",
        t.elapsed()
    );
    let mut other = releaser.join().expect("other station");
    // Our close goes out after the result (as MAVSDK's does): the other
    // station opens once it went through.
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "our session left open"
    );
    // A station that holds the session for longer than our budget: BUSY.
    assert_eq!(
        other.call(Opcode::OpenFileRO, 0, 0, b"/theirs.bin").opcode,
        Opcode::Ack
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let keeper = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            other.call(Opcode::ReadFile, 0, 0, &[0; 10]);
            std::thread::sleep(Duration::from_millis(200));
        }
        other.call(Opcode::TerminateSession, 0, 0, &[]);
    });
    r.client.set_timeout(Duration::from_millis(200), 5);
    let t = Instant::now();
    let e = r.get("/mine.bin", false).expect_err("busy");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    keeper.join().expect("keeper");
    assert_eq!(e.result, FtpResult::Busy, "{e}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "gave up after {:?}",
        t.elapsed()
    );
    assert!(!has_part_file(r.local.path()));
}

/// Issue 9 item 16: NAK FailErrno is a file-system answer: ArduPilot's
/// rmdir of a non-empty directory (errno 21) is FILE_IO_ERROR with the
/// errno in the message, not PROTOCOL_ERROR.
#[test]
fn fail_errno_maps_to_file_results() {
    for p in [Personality::ArduPilot, Personality::Px4] {
        let r = rig(p);
        r.fake.put_file("/full/f.bin", b"x");
        let e = r.client.remove_directory("/full").expect_err("not empty");
        assert_eq!(e.result, FtpResult::FileIoError, "{}: {e}", p.name());
        assert!(e.message.contains("errno"), "{e}");
        assert_eq!(
            r.client.last_error().map(|m| m.contains("errno")),
            Some(true)
        );
    }
}

/// Issue 9 item 18: PX4's single session, closed under a download by
/// another station's ResetSessions (pymavlink sends one at start), is
/// re-opened and the download goes on from where it was; it is verified by
/// CRC before SUCCESS.
#[test]
fn px4_session_reset_by_another_station_is_reopened_and_the_download_goes_on() {
    for burst in [false, true] {
        let r = rig(Personality::Px4);
        let data = pattern(2 << 20, 12);
        r.fake.put_file("/big.bin", &data);
        let mut other = r.station((246, 190));
        // The other station resets once about a third of the file went out.
        let fake_stats = {
            let fake = &r.fake;
            move || {
                let st = fake.stats();
                st.burst_packets + st.count(Opcode::ReadFile)
            }
        };
        let got = std::thread::scope(|s| {
            let resetter = s.spawn(move || {
                let t = Instant::now();
                while fake_stats() < 3000 && t.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_micros(200));
                }
                other.call(Opcode::ResetSessions, 0, 0, &[]);
            });
            let got = r
                .get("/big.bin", burst)
                .unwrap_or_else(|e| panic!("burst={burst}: {e}"));
            resetter.join().expect("resetter");
            got
        });
        assert_byte_exact(&got, &data, &format!("burst={burst}"));
        let st = r.fake.stats();
        assert!(
            st.sessions_lost >= 1,
            "burst={burst}: the reset came too late"
        );
        assert!(
            st.count(Opcode::OpenFileRO) >= 2,
            "burst={burst}: not re-opened"
        );
        assert!(
            st.count(Opcode::CalcFileCRC32) >= 1,
            "burst={burst}: not verified"
        );
    }
}

/// Issue 9 item 18: PX4 closes a session that gets no request for its idle
/// time (burst packets going out do not count): the burst download
/// re-opens and finishes.
#[test]
fn px4_idle_close_during_a_burst_is_reopened() {
    // A 200 kB/s link: a burst round of 100 kB takes 0.5 s without a request.
    let slow = || Impairment::none().with_rate(200_000);
    let (client_link, server_link) = link_pair((245, 190), (1, 1), slow(), slow());
    let fake = FakeServer::start(&server_link, Personality::Px4);
    let client = Client::new(&client_link, 1, 1).expect("client");
    let r = Rig {
        client,
        fake,
        local: tempfile::tempdir().expect("tempdir"),
        links: (client_link, server_link),
    };
    let data = pattern(300_000, 13);
    r.fake.put_file("/big.bin", &data);
    r.fake.set_px4_idle_timeout(Duration::from_millis(250));
    r.fake.set_px4_burst_bytes(100_000);
    let got = r.get("/big.bin", true).expect("download");
    assert_byte_exact(&got, &data, "idle closes");
    assert!(r.fake.stats().sessions_lost >= 1, "no idle close happened");
}
