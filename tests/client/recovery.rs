//! How the client recovers lost requests without waiting out an RTO: a
//! request overtaken by three later replies is resent at once, and one lost
//! at the tail of a transfer (nothing else left to send) gets an early copy,
//! also when a burst download reads its last holes (with the read that
//! confirms the end beside them); so does an upload's close (its RTO is
//! sized by the write window's queue).
//! And a download reports its result before its session's close is
//! answered; the session is closed right after.
//!
//! Which path a resend took shows only in the client's trace, so the traced
//! tests run alone in a child process with `MAVFTP_TRACE=1` (the switch is
//! read once per process) and its parent reads the child's stderr.

use std::time::{Duration, Instant};

use mavftp::FtpResult;
use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::protocol::{MAX_DATA, Opcode};

use crate::fake_server::{FakeServer, Personality, SETTLE, pattern};
use crate::own_process;

/// The traced run (this file's first test, alone in a child process).
const TRACED: &str = "recovery::lost_requests_are_resent_without_waiting_for_their_rto";
/// Chunks in the test file.
const CHUNKS: u32 = 40;
/// A chunk in the middle: later requests are in flight when it is lost.
const MIDDLE: u32 = 10 * MAX_DATA as u32;
/// The last chunk: sent with nothing (but an EOF probe) after it.
const LAST: u32 = (CHUNKS - 1) * MAX_DATA as u32;

struct Rig {
    client: Client,
    fake: FakeServer,
    local: tempfile::TempDir,
    _links: (Link, Link),
}

/// PX4's fake behind a 57,600-baud-class link (5,760 B/s, 10 ms each way).
fn radio_rig() -> Rig {
    let radio = Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10));
    let (client_link, server_link) = link_pair((245, 190), (1, 1), radio.clone(), radio);
    let fake = FakeServer::start(&server_link, Personality::Px4);
    let client = Client::new(&client_link, 1, 1).expect("client");
    Rig {
        client,
        fake,
        local: tempfile::tempdir().expect("tempdir"),
        _links: (client_link, server_link),
    }
}

/// Whether the trace shows a resend of `opcode` at `offset` marked `how`.
fn resent(trace: &str, opcode: &str, offset: u32, how: &str) -> bool {
    trace.lines().any(|l| {
        l.contains(&format!("resend {opcode} "))
            && l.contains(&format!(" offset {offset} "))
            && l.contains(how)
    })
}

#[test]
fn lost_requests_are_resent_without_waiting_for_their_rto() {
    if !own_process::is_child() {
        let out = own_process::run_alone(TRACED, &[("MAVFTP_TRACE", "1")]);
        let trace = String::from_utf8_lossy(&out.stderr);
        for opcode in ["ReadFile", "WriteFile"] {
            assert!(
                resent(&trace, opcode, MIDDLE, "overtaken"),
                "the {opcode} lost in the middle was not resent as overtaken:\n{trace}"
            );
            assert!(
                resent(&trace, opcode, LAST, "late at the tail"),
                "the {opcode} lost at the end got no early copy:\n{trace}"
            );
        }
        assert!(
            resent(&trace, "TerminateSession", 0, "late at the tail"),
            "the upload's lost close got no early copy (it waited out its RTO):\n{trace}"
        );
        return;
    }
    let r = radio_rig();
    let data = pattern(CHUNKS as usize * MAX_DATA, 21);
    r.fake.mkdir("/logs");
    r.fake.put_file("/logs/a.bin", &data);
    r.fake.lose_once(Opcode::ReadFile, MIDDLE);
    r.fake.lose_once(Opcode::ReadFile, LAST);
    r.client
        .download("/logs/a.bin", r.local.path(), false, None)
        .expect("download");
    assert_eq!(
        std::fs::read(r.local.path().join("a.bin")).expect("read"),
        data
    );
    let up = r.local.path().join("up.bin");
    std::fs::write(&up, &data).expect("write");
    r.fake.lose_once(Opcode::WriteFile, MIDDLE);
    r.fake.lose_once(Opcode::WriteFile, LAST);
    r.client.upload(&up, "/logs", None).expect("upload");
    assert_eq!(r.fake.file("/logs/up.bin").as_deref(), Some(&data[..]));
    // An upload's close is on its critical path (its ACK makes the data
    // final): lost once, it is sent again about one idle round trip late,
    // not after the RTO that the write window's queue inflated.
    let up2 = r.local.path().join("up2.bin");
    std::fs::write(&up2, &data).expect("write");
    r.fake.lose_once(Opcode::TerminateSession, 0);
    r.client
        .upload(&up2, "/logs", None)
        .expect("upload with a lost close");
    assert_eq!(r.fake.file("/logs/up2.bin").as_deref(), Some(&data[..]));
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "the session was left open"
    );
}

/// The traced burst run (alone in a child process).
const TRACED_BURST: &str =
    "recovery::a_burst_download_reads_its_last_holes_with_the_end_probe_and_tail_copies";

/// A burst download whose last holes are read after the round: the read
/// that confirms the end goes out beside them (not a round trip after
/// them), and a hole read lost there gets an early copy at the tail
/// instead of waiting out its RTO. MAVSDK 4.1's fake ends a file of whole
/// chunks with a full burst_complete packet, which needs that read.
#[test]
fn a_burst_download_reads_its_last_holes_with_the_end_probe_and_tail_copies() {
    let size = CHUNKS * MAX_DATA as u32;
    // Packets 35..=38 (of 40) are lost on the radio: four holes.
    let last_hole = 37 * MAX_DATA as u32;
    if !own_process::is_child() {
        let out = own_process::run_alone(TRACED_BURST, &[("MAVFTP_TRACE", "1")]);
        let trace = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the traced burst download failed:\n{trace}"
        );
        let line = |what: &str| {
            trace
                .lines()
                .position(|l| l.contains(what))
                .unwrap_or_else(|| panic!("no {what:?} in the trace:\n{trace}"))
        };
        let probe = line(&format!(" offset {size} ("));
        let last_hole_answered = line(&format!("offset {last_hole} after"));
        assert!(
            probe < last_hole_answered,
            "the end was probed only after the holes were read:\n{trace}"
        );
        assert!(
            resent(&trace, "ReadFile", last_hole, "late at the tail"),
            "the hole read lost at the tail got no early copy:\n{trace}"
        );
        return;
    }
    let radio = Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10));
    let (client_link, server_link) = link_pair((245, 190), (1, 1), radio.clone(), radio);
    let fake = FakeServer::start(&server_link, Personality::Mavsdk41);
    let client = Client::new(&client_link, 1, 1).expect("client");
    let local = tempfile::tempdir().expect("tempdir");
    let data = pattern(size as usize, 23);
    fake.put_file("/b.bin", &data);
    fake.set_burst_dropout(35, 4);
    fake.lose_once(Opcode::ReadFile, last_hole);
    client
        .download("/b.bin", local.path(), true, None)
        .expect("burst download");
    assert_eq!(std::fs::read(local.path().join("b.bin")).unwrap(), data);
}

/// The download's result comes before its TerminateSession reaches the
/// server (the data is complete; the close's answer changes nothing), and
/// the session is closed right after.
#[test]
fn a_download_reports_before_its_session_is_closed_and_closes_it() {
    let slow = Impairment::none().with_delay(Duration::from_millis(100));
    let (client_link, server_link) = link_pair((245, 190), (1, 1), slow.clone(), slow);
    let fake = FakeServer::start(&server_link, Personality::Px4);
    let client = Client::new(&client_link, 1, 1).expect("client");
    let local = tempfile::tempdir().expect("tempdir");
    let data = pattern(3000, 22);
    fake.put_file("/a.bin", &data);
    client
        .download("/a.bin", local.path(), false, None)
        .expect("download");
    let returned = Instant::now();
    assert_eq!(std::fs::read(local.path().join("a.bin")).unwrap(), data);
    assert_eq!(
        fake.open_sessions_settled(SETTLE),
        0,
        "the session was left open"
    );
    let close = fake
        .log()
        .into_iter()
        .find(|q| q.opcode == Opcode::TerminateSession.to_u8())
        .expect("a TerminateSession");
    // The close takes 100 ms to arrive: sent after the result, it arrives
    // after it; sent before (and answered), it arrived 100 ms before.
    assert!(
        close.at > returned,
        "the close reached the server {:?} before the result",
        returned - close.at
    );
    // The next operation goes after the close (PX4 serves one session).
    client
        .download("/a.bin", local.path(), true, None)
        .expect("second download");
    assert_eq!(std::fs::read(local.path().join("a.bin")).unwrap(), data);
    assert_eq!(
        fake.open_sessions_settled(SETTLE),
        0,
        "the session was left open"
    );
    assert_eq!(fake.stats().count(Opcode::TerminateSession), 2);
}

/// A NAK to a resent close is ambiguous: the first close may have closed
/// the session and only its ACK was lost, or the close failed (a server
/// that holds writes until the close). The server's CRC decides. On a
/// radio: PX4's fake losing the close's ACK (and its reply cache to another
/// station, so the copy is NAKed InvalidSession) ends in SUCCESS after a
/// CRC check; MAVSDK 4.1's fake failing the close (the file left empty,
/// NAK Fail 150 ms later, after the close's early copy went out) ends in
/// FILE_IO_ERROR, not SUCCESS.
#[test]
fn a_nak_to_a_resent_close_is_settled_by_the_servers_crc() {
    let radio = Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10));
    let data = pattern(20 * MAX_DATA, 24);
    let local = tempfile::tempdir().expect("tempdir");
    let up = local.path().join("up.bin");
    std::fs::write(&up, &data).expect("write");
    for p in [Personality::Px4, Personality::Mavsdk41] {
        let (client_link, server_link) =
            link_pair((245, 190), (1, 1), radio.clone(), radio.clone());
        let fake = FakeServer::start(&server_link, p);
        let client = Client::new(&client_link, 1, 1).expect("client");
        fake.mkdir("/logs");
        if p == Personality::Px4 {
            fake.lose_reply_once(Opcode::TerminateSession);
            client
                .upload(&up, "/logs", None)
                .expect("upload whose close ACK was lost");
            assert_eq!(fake.file("/logs/up.bin").as_deref(), Some(&data[..]));
            assert_eq!(
                fake.stats().count(Opcode::CalcFileCRC32),
                1,
                "the NAK to the resent close was not checked with the CRC"
            );
        } else {
            fake.fail_close_once(Duration::from_millis(150));
            let e = client
                .upload(&up, "/logs", None)
                .expect_err("a failed close reported as success");
            assert_eq!(e.result, FtpResult::FileIoError, "{e}");
        }
    }
}
