//! MAVLink 2 message signing between our client and our server, over two
//! custom links wired to each other with a tap that records every frame:
//! what is signed on the wire, what a link that requires signing refuses
//! (unsigned, another key, replays), and that refused requests get no answer.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mavftp::FtpResult;
use mavftp::client::Client;
use mavftp::link::{Link, SigningStats, WeakLink};
use mavftp::server::Server;

const KEY: [u8; 32] = *b"mavftp signing test key 32 bytes";
const OTHER_KEY: [u8; 32] = *b"another key, also 32 bytes long!";

/// Frames one link sent, in order.
type Tap = Arc<Mutex<Vec<Vec<u8>>>>;

/// Where a link's frames go: the peer link (while wired) and a tap.
#[derive(Clone, Default)]
struct Wire {
    peer: Arc<Mutex<Option<WeakLink>>>,
    tap: Tap,
}

impl Wire {
    fn open(&self, sys: u8, comp: u8) -> Link {
        let wire = self.clone();
        Link::open_custom(
            sys,
            comp,
            Box::new(move |bytes| {
                wire.tap.lock().unwrap().push(bytes.to_vec());
                let peer = wire.peer.lock().unwrap().clone();
                if let Some(link) = peer.and_then(|w| w.upgrade()) {
                    let _ = link.feed(bytes);
                }
            }),
        )
        .expect("open_custom")
    }

    fn connect(&self, peer: &Link) {
        *self.peer.lock().unwrap() = Some(peer.downgrade());
    }

    fn frames(&self) -> Vec<Vec<u8>> {
        self.tap.lock().unwrap().clone()
    }
}

struct Rig {
    client_link: Link,
    server_link: Link,
    client: Client,
    _server: Server,
    /// What the client link sent.
    up: Wire,
    /// What the server link sent.
    down: Wire,
    root: tempfile::TempDir,
    local: tempfile::TempDir,
}

/// A client (245/190) and a server (1/1); `setup` configures signing on both
/// links before any FTP traffic.
fn rig(setup: impl FnOnce(&Link, &Link)) -> Rig {
    let up = Wire::default();
    let down = Wire::default();
    let client_link = up.open(245, 190);
    let server_link = down.open(1, 1);
    setup(&client_link, &server_link);
    up.connect(&server_link);
    down.connect(&client_link);
    let root = tempfile::tempdir().expect("tempdir");
    let local = tempfile::tempdir().expect("tempdir");
    let server = Server::new(&server_link, root.path()).expect("server");
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(Duration::from_millis(150), 3);
    Rig {
        client_link,
        server_link,
        client,
        _server: server,
        up,
        down,
        root,
        local,
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ salt)
        .collect()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// MAVLink 2 frame fields: (incompat flags, message id, signature link id
/// and timestamp when signed).
fn frame_info(frame: &[u8]) -> (u8, u32, Option<(u8, u64)>) {
    assert_eq!(frame[0], 0xFD, "MAVLink 2 frame");
    let len = frame[1] as usize;
    let id = u32::from_le_bytes([frame[7], frame[8], frame[9], 0]);
    if frame[2] & 1 == 0 {
        assert_eq!(frame.len(), 10 + len + 2);
        return (frame[2], id, None);
    }
    assert_eq!(frame.len(), 10 + len + 2 + 13);
    let block = &frame[12 + len..];
    let mut ts = [0u8; 8];
    ts[..6].copy_from_slice(&block[1..7]);
    (frame[2], id, Some((block[0], u64::from_le_bytes(ts))))
}

fn ftp_frames(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter(|f| frame_info(f).1 == 110)
        .cloned()
        .collect()
}

fn assert_all_verified(stats: SigningStats, who: &str) {
    assert_eq!(
        (
            stats.dropped,
            stats.unsigned_frames,
            stats.bad_signature,
            stats.replay,
            stats.stale_stream,
            stats.too_many_streams
        ),
        (0, 0, 0, 0, 0, 0),
        "{who}: {stats:?}"
    );
}

#[test]
fn signed_client_and_signed_server_transfer_byte_for_byte() {
    let r = rig(|c, s| {
        c.set_signing(&KEY, 7, true);
        s.set_signing(&KEY, 3, true);
    });
    for &len in &[0usize, 1, 239, 240, 100_000] {
        let name = format!("f{len}.bin");
        let data = pattern(len, len as u8);
        std::fs::write(r.root.path().join(&name), &data).expect("write");
        for burst in [false, true] {
            let out = r.local.path().join(&name);
            let _ = std::fs::remove_file(&out);
            r.client
                .download(&format!("/{name}"), r.local.path(), burst, None)
                .unwrap_or_else(|e| panic!("download {name} burst={burst}: {e}"));
            assert_eq!(std::fs::read(&out).expect("read"), data, "{name} {burst}");
        }
    }
    let up = r.local.path().join("up.bin");
    let data = pattern(50_000, 9);
    std::fs::write(&up, &data).expect("write");
    r.client.create_directory("/in").expect("mkdir");
    r.client.upload(&up, "/in", None).expect("upload");
    assert_eq!(
        std::fs::read(r.root.path().join("in/up.bin")).expect("read"),
        data
    );
    let listing = r.client.list_directory("/in").expect("list");
    assert_eq!(listing.files(), vec!["up.bin"]);
    assert!(
        r.client
            .are_files_identical(&up, "/in/up.bin")
            .expect("cmp")
    );

    // Let each link send a heartbeat after signing was set.
    std::thread::sleep(Duration::from_millis(1200));
    // Every frame on the wire is signed (heartbeats included), with the
    // sender's link id and strictly increasing timestamps; only the heartbeat
    // a link sends as it opens, before signing was set, is not.
    for (wire, link_id, link) in [(&r.up, 7u8, &r.client_link), (&r.down, 3, &r.server_link)] {
        let all = wire.frames();
        let frames: Vec<Vec<u8>> = all
            .iter()
            .skip_while(|f| frame_info(f).2.is_none())
            .cloned()
            .collect();
        assert!(all.len() - frames.len() <= 1, "only the opening heartbeat");
        assert!(frames.iter().any(|f| frame_info(f).1 == 0), "a heartbeat");
        let mut last = 0u64;
        for f in &frames {
            let (flags, _, sig) = frame_info(f);
            assert_eq!(flags, 1);
            let (id, ts) = sig.expect("signed");
            assert_eq!(id, link_id);
            assert!(ts > last, "timestamps increase");
            last = ts;
        }
        let stats = link.signing_stats();
        assert_eq!(stats.frames_signed, frames.len() as u64);
        assert_all_verified(stats, "signed rig");
        assert!(stats.accepted_signed > 0);
        assert_eq!(stats.accepted_unsigned, 0);
    }
}

#[test]
fn unsigned_client_gets_no_answer_from_a_server_that_requires_signing() {
    let r = rig(|_, s| s.set_signing(&KEY, 0, true));
    std::fs::write(r.root.path().join("a.bin"), pattern(1000, 1)).expect("write");
    assert_refused(&r);
    let stats = r.server_link.signing_stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.dropped, stats.unsigned_frames, "{stats:?}");
    assert_eq!(stats.accepted_signed + stats.accepted_unsigned, 0);
}

#[test]
fn client_with_the_wrong_key_gets_no_answer() {
    // The client does not require signing, so it hears the server (its
    // frames fail the client's check and pass as unsigned ones) and the
    // result is a TIMEOUT, not NO_SYSTEM.
    let r = rig(|c, s| {
        c.set_signing(&OTHER_KEY, 0, false);
        s.set_signing(&KEY, 0, true);
    });
    std::fs::write(r.root.path().join("a.bin"), pattern(1000, 1)).expect("write");
    assert_refused(&r);
    let stats = r.server_link.signing_stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.dropped, stats.bad_signature, "{stats:?}");
    assert_eq!(stats.accepted_signed + stats.accepted_unsigned, 0);
    let client = r.client_link.signing_stats();
    assert!(
        client.bad_signature > 0 && client.dropped == 0,
        "{client:?}"
    );
}

#[test]
fn client_that_requires_signing_with_the_wrong_key_never_hears_the_server() {
    let r = rig(|c, s| {
        c.set_signing(&OTHER_KEY, 0, true);
        s.set_signing(&KEY, 0, true);
    });
    std::fs::write(r.root.path().join("a.bin"), pattern(1000, 1)).expect("write");
    let e = r
        .client
        .download("/a.bin", r.local.path(), false, None)
        .expect_err("wrong key");
    assert_eq!(e.result, FtpResult::NoSystem, "{e}");
    assert!(dir_entries(r.local.path()).is_empty());
    assert!(ftp_frames(&r.down.frames()).is_empty());
    assert!(r.server_link.signing_stats().bad_signature > 0);
    assert!(r.client_link.signing_stats().bad_signature > 0);
}

/// Every kind of request times out, nothing changes on the server's disk or
/// ours, and the server sends no FTP frame at all.
fn assert_refused(r: &Rig) {
    let before = dir_entries(r.root.path());
    let expect_timeout = |what: &str, got: Result<(), mavftp::FtpError>| {
        let e = got.expect_err(what);
        assert_eq!(e.result, FtpResult::Timeout, "{what}: {e}");
    };
    expect_timeout(
        "download",
        r.client
            .download("/a.bin", r.local.path(), false, None)
            .map(|_| ()),
    );
    expect_timeout(
        "burst download",
        r.client
            .download("/a.bin", r.local.path(), true, None)
            .map(|_| ()),
    );
    let up = tempfile::tempdir().expect("tempdir");
    let file = up.path().join("up.bin");
    std::fs::write(&file, pattern(5000, 2)).expect("write");
    expect_timeout("upload", r.client.upload(&file, "/", None).map(|_| ()));
    expect_timeout("mkdir", r.client.create_directory("/d"));
    expect_timeout("rm", r.client.remove_file("/a.bin"));
    expect_timeout("list", r.client.list_directory("/").map(|_| ()));
    assert_eq!(dir_entries(r.root.path()), before, "server disk unchanged");
    assert!(dir_entries(r.local.path()).is_empty(), "nothing downloaded");
    assert!(
        ftp_frames(&r.down.frames()).is_empty(),
        "the server answered something"
    );
    assert!(!ftp_frames(&r.up.frames()).is_empty());
}

#[test]
fn replayed_signed_request_is_dropped_and_not_executed() {
    let r = rig(|c, s| {
        c.set_signing(&KEY, 1, true);
        s.set_signing(&KEY, 2, true);
    });
    r.client.create_directory("/once").expect("mkdir");
    let request = ftp_frames(&r.up.frames())
        .into_iter()
        .last()
        .expect("the mkdir request");
    std::fs::remove_dir(r.root.path().join("once")).expect("rmdir on the server side");
    let replies_before = ftp_frames(&r.down.frames()).len();
    let before = r.server_link.signing_stats();

    r.server_link.feed(&request).expect("feed");
    std::thread::sleep(Duration::from_millis(300));
    let after = r.server_link.signing_stats();
    assert_eq!(after.replay, before.replay + 1);
    assert_eq!(after.dropped, before.dropped + 1);
    assert_eq!(after.accepted_signed, before.accepted_signed);
    assert!(
        !r.root.path().join("once").exists(),
        "replay executed the request"
    );
    assert_eq!(
        ftp_frames(&r.down.frames()).len(),
        replies_before,
        "no answer"
    );

    // The same frame with one timestamp byte raised: newer, but the
    // signature no longer matches.
    let mut forged = request.clone();
    let at = forged.len() - 12;
    forged[at] = forged[at].wrapping_add(100);
    r.server_link.feed(&forged).expect("feed");
    std::thread::sleep(Duration::from_millis(300));
    let forged_stats = r.server_link.signing_stats();
    assert_eq!(forged_stats.bad_signature, after.bad_signature + 1);
    assert_eq!(forged_stats.dropped, after.dropped + 1);
    assert!(!r.root.path().join("once").exists());

    // The genuine client still works (its stream was not disturbed).
    r.client
        .create_directory("/twice")
        .expect("mkdir after replay");
    assert!(r.root.path().join("twice").is_dir());
}

#[test]
fn signing_client_that_does_not_require_it_talks_to_an_unsigned_server() {
    let r = rig(|c, _| c.set_signing(&KEY, 4, false));
    std::fs::write(r.root.path().join("a.bin"), pattern(3000, 5)).expect("write");
    r.client
        .download("/a.bin", r.local.path(), true, None)
        .expect("download");
    assert_eq!(
        std::fs::read(r.local.path().join("a.bin")).expect("read"),
        pattern(3000, 5)
    );
    let stats = r.client_link.signing_stats();
    assert!(stats.accepted_unsigned > 0 && stats.frames_signed > 0);
    assert_eq!(stats.accepted_unsigned, stats.unsigned_frames);
    assert_eq!(stats.dropped, 0);
    // A server link without a key accepts signed frames without checking them.
    assert_eq!(r.server_link.signing_stats(), SigningStats::default());
}

#[test]
fn client_that_requires_signing_ignores_an_unsigned_server() {
    let r = rig(|c, _| c.set_signing(&KEY, 4, true));
    std::fs::write(r.root.path().join("a.bin"), pattern(300, 5)).expect("write");
    // Refused frames do not count as heard: the client never heard its
    // server, so the answer is NO_SYSTEM.
    let e = r
        .client
        .download("/a.bin", r.local.path(), false, None)
        .expect_err("unsigned replies must be ignored");
    assert_eq!(e.result, FtpResult::NoSystem, "{e}");
    assert!(dir_entries(r.local.path()).is_empty());
    let stats = r.client_link.signing_stats();
    assert!(
        stats.dropped > 0 && stats.dropped == stats.unsigned_frames,
        "{stats:?}"
    );
    // The server did answer (unsigned): the client dropped the replies.
    assert!(!ftp_frames(&r.down.frames()).is_empty());
    assert!(
        !r.client_link.has_heard(1, 1),
        "refused frames do not count as heard"
    );
}

#[test]
fn clearing_signing_returns_to_unsigned_frames_and_keeps_counters() {
    let r = rig(|c, s| {
        c.set_signing(&KEY, 1, true);
        s.set_signing(&KEY, 2, true);
    });
    r.client.create_directory("/a").expect("signed mkdir");
    let signed = r.client_link.signing_stats();
    r.client_link.clear_signing();
    r.server_link.clear_signing();
    let from = r.up.frames().len();
    r.client.create_directory("/b").expect("unsigned mkdir");
    let later = r.up.frames();
    assert!(later[from..].iter().all(|f| frame_info(f).2.is_none()));
    let stats = r.client_link.signing_stats();
    assert_eq!(stats.frames_signed, signed.frames_signed);
    assert_eq!(stats.accepted_signed, signed.accepted_signed);
}
