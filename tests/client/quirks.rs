//! Our client against scripted fakes of PX4, ArduPilot and the MAVSDK 4.1
//! and 2.x–3.x servers (tests/client/fake_server): every server quirk of docs/PROTOCOL_NOTES.md §5–§7, §9,
//! §10 that the client must cope with, checked byte for byte and on the wire.

use std::time::{Duration, Instant};

use crate::against_server::radio_5760;
use crate::fake_server::{
    AP_BURST_PACKETS, AP_PARAM_FAKE_SIZE, FakeServer, MAVSDK_BURST_PACKETS, Personality, SETTLE,
    dir_names, has_part_file, pattern,
};
use mavftp::FtpResult;
use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::protocol::{MAX_DATA, Opcode};

/// Field order = drop order: the client stops before the server and links.
struct Rig {
    client: Client,
    fake: FakeServer,
    local: tempfile::TempDir,
    _links: (Link, Link),
}

fn rig(p: Personality) -> Rig {
    rig_on(p, Impairment::none())
}

/// A rig whose link has `imp` in both directions.
fn rig_on(p: Personality, imp: Impairment) -> Rig {
    let (client_link, server_link) = link_pair((245, 190), (1, 1), imp.clone(), imp);
    let fake = FakeServer::start(&server_link, p);
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(Duration::from_millis(300), 6);
    Rig {
        client,
        fake,
        local: tempfile::tempdir().expect("tempdir"),
        _links: (client_link, server_link),
    }
}

const SIZES: [usize; 7] = [0, 1, 238, 239, 240, 4095, 100_000];

/// Download `remote` and compare with `want` byte for byte; no temp file left.
fn fetch(r: &Rig, remote: &str, burst: bool, want: &[u8]) -> Duration {
    let name = remote.rsplit('/').next().expect("name");
    let out = r.local.path().join(name);
    let _ = std::fs::remove_file(&out);
    let t = Instant::now();
    r.client
        .download(remote, r.local.path(), burst, None)
        .unwrap_or_else(|e| {
            panic!(
                "{} download {remote} burst={burst}: {e}",
                r.fake.personality().name()
            )
        });
    let took = t.elapsed();
    let got = std::fs::read(&out).expect("downloaded file");
    assert!(
        got == want,
        "{} {remote} burst={burst}: {} bytes, expected {} (first difference at {:?})",
        r.fake.personality().name(),
        got.len(),
        want.len(),
        got.iter().zip(want).position(|(a, b)| a != b)
    );
    assert!(!has_part_file(r.local.path()), "temp file left behind");
    took
}

fn downloads_every_size(p: Personality) {
    let r = rig(p);
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, i as u8 + 1);
        let path = format!("/logs/f{len}.bin");
        r.fake.put_file(&path, &data);
        for burst in [false, true] {
            fetch(&r, &path, burst, &data);
        }
    }
    let st = r.fake.stats();
    assert_eq!(st.zero_size_bursts, 0, "a burst asked for 0-byte packets");
    assert_eq!(
        st.wrong_replays, 0,
        "a cached reply answered another request"
    );
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "a session was left open"
    );
    assert!(st.count(Opcode::BurstReadFile) >= SIZES.len() as u64);
}

#[test]
fn px4_downloads_every_size_plain_and_burst() {
    downloads_every_size(Personality::Px4);
}

#[test]
fn ardupilot_downloads_every_size_plain_and_burst() {
    downloads_every_size(Personality::ArduPilot);
}

#[test]
fn mavsdk41_downloads_every_size_plain_and_burst() {
    downloads_every_size(Personality::Mavsdk41);
}

#[test]
fn mavsdk3_downloads_every_size_plain_and_burst() {
    downloads_every_size(Personality::Mavsdk3);
}

/// A rig whose links have `up` / `down`, the client at its defaults.
fn rig_at_defaults(p: Personality, up: Impairment, down: Impairment) -> Rig {
    let (client_link, server_link) = link_pair((245, 190), (1, 1), up, down);
    Rig {
        client: Client::new(&client_link, 1, 1).expect("client"),
        fake: FakeServer::start(&server_link, p),
        local: tempfile::tempdir().expect("tempdir"),
        _links: (client_link, server_link),
    }
}

/// A rig with `p` over a 5760 B/s radio (see [`radio_5760`]) losing `loss`,
/// each direction with its own seed, the client at its defaults.
fn rig_on_radio(p: Personality, loss: f64, seed: u64) -> Rig {
    let (up, down) = (radio_5760(loss, seed), radio_5760(loss, seed + 1000));
    rig_at_defaults(p, up, down)
}

/// MAVSDK 2.x–3.x's server streams a burst from one file position that its
/// ReadFile moves too (docs/PROTOCOL_NOTES.md §6): a hole read while its
/// burst streams would shift the bytes of every later packet behind offsets
/// that look right. Over a lossy radio, at the client's defaults, the
/// download must still be byte-exact: no ReadFile reaches the server while
/// its burst streams, and the holes are read after it.
#[test]
fn mavsdk3_holes_are_read_after_the_burst_never_during_it() {
    for seed in 1..=3u64 {
        let r = rig_on_radio(Personality::Mavsdk3, 0.03, seed);
        let data = pattern(60_000, seed as u8);
        r.fake.put_file("/log.bin", &data);
        fetch(&r, "/log.bin", true, &data);
        let stats = r.fake.stats();
        assert!(
            stats.count(Opcode::ReadFile) > 0,
            "seed {seed}: 3 % loss made no hole to read: {stats:?}"
        );
        assert_eq!(
            (stats.reads_during_burst, stats.shifted_burst_packets),
            (0, 0),
            "seed {seed}: a ReadFile reached the server while its burst streamed"
        );
    }
}

/// A radio dropout stalls MAVSDK 2.x–3.x's burst while its thread goes on
/// streaming at the link's pace (a blocking serial write): the client reads
/// after the stall, as it must against a server that floods a radio and
/// loses every round's last packet, and those reads shift the bytes of the
/// stalled burst's later packets. The client drops every later packet of
/// that burst, reads on, and compares the result with the server's CRC32:
/// SUCCESS, byte-exact.
#[test]
fn mavsdk3_reads_after_a_stalled_burst_drop_its_later_packets_and_are_verified() {
    let r = rig_on_radio(Personality::Mavsdk3, 0.0, 1);
    // A little over one full frame's airtime at 5760 B/s (46.2 ms): the
    // thread's sends block at the link's pace (which replies share).
    r.fake.set_burst_gap(Duration::from_millis(50));
    r.fake.set_burst_dropout(40, 20);
    let data = pattern(60_000, 5);
    r.fake.put_file("/log.bin", &data);
    fetch(&r, "/log.bin", true, &data);
    let stats = r.fake.stats();
    assert!(
        stats.reads_during_burst > 0 && stats.shifted_burst_packets > 0,
        "no read met the running burst (the scenario did not happen): {stats:?}"
    );
    assert!(
        stats.count(Opcode::CalcFileCRC32) > 0,
        "reads met a running burst and the download was not verified: {stats:?}"
    );
}

/// A server that ends a round early (MAVSDK 4.1, PX4) reads at the offset
/// asked: its holes are read while its bursts stream, as before (for a
/// server that answers a keep-alive, see against_server.rs).
#[test]
fn holes_are_read_during_bursts_once_the_server_showed_it_may() {
    // A fast link: the first round ends early at once.
    let lossy = |seed| {
        Impairment::none()
            .with_delay(Duration::from_millis(5))
            .with_loss(0.03)
            .with_seed(seed)
    };
    for p in [Personality::Mavsdk41, Personality::Px4] {
        let r = rig_at_defaults(p, lossy(7), lossy(8));
        let data = pattern(120_000, 9);
        r.fake.put_file("/log.bin", &data);
        fetch(&r, "/log.bin", true, &data);
        let stats = r.fake.stats();
        assert!(
            stats.reads_during_burst > 0,
            "{}: no hole was read while a burst streamed: {stats:?}",
            p.name()
        );
    }
}

/// PX4 and ArduPilot answer a request whose seq + 1 is the seq of their
/// last reply with that reply again, and after a burst round that reply is
/// the round's EOF NAK (or last packet): a hole read sent just before the
/// round's end can carry exactly the seq before it (seen with PX4's fake,
/// 1 download in ~300 at 3 % loss), and every resend under that seq got
/// the NAK again until the read failed with "no reply after retries". A
/// read is asked again under a fresh seq. Here the fake finds such a reply
/// cached for the hole read of a burst and for the read that probes the
/// end of a plain download.
#[test]
fn a_read_answered_from_a_foreign_cached_reply_is_asked_again_under_a_fresh_seq() {
    for p in [Personality::Px4, Personality::ArduPilot] {
        let r = rig(p);
        // Burst: packet 9 of 10 lost, its hole read finds the cache taken.
        let data = pattern(10 * MAX_DATA, 41);
        r.fake.put_file("/burst.bin", &data);
        r.fake.set_burst_dropout(9, 1);
        r.fake
            .foreign_reply_cached_once(Opcode::ReadFile, 8 * MAX_DATA as u32);
        fetch(&r, "/burst.bin", true, &data);
        // Plain: the read that probes the end finds the cache taken.
        let data = pattern(100, 42);
        r.fake.put_file("/plain.bin", &data);
        r.fake.foreign_reply_cached_once(Opcode::ReadFile, 100);
        fetch(&r, "/plain.bin", false, &data);
        let stats = r.fake.stats();
        assert!(
            stats.wrong_replays >= 2,
            "{}: the fake replayed no foreign reply (the scenario did not happen): {stats:?}",
            p.name()
        );
    }
}

/// AP `@PARAM/param.pck` reports 65535 bytes in OpenFileRO; the client must
/// read to the real EOF, with one read size per handle (docs/PROTOCOL_NOTES.md §9).
#[test]
fn ardupilot_param_pck_with_fake_size_is_read_to_real_eof() {
    let r = rig(Personality::ArduPilot);
    for (i, &len) in [5000usize, 239 * 10, 1, 0].iter().enumerate() {
        let data = pattern(len, 40 + i as u8);
        r.fake
            .put_virtual("@PARAM/param.pck", &data, AP_PARAM_FAKE_SIZE);
        for burst in [false, true] {
            let took = fetch(&r, "@PARAM/param.pck", burst, &data);
            assert!(
                took < Duration::from_secs(3),
                "param.pck ({len} B, burst={burst}) took {took:?}: waited for the fake size?"
            );
        }
    }
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "a session was left open"
    );
}

/// Burst of AP's param.pck over a lossy link (fixed seeds): the holes must be
/// filled with reads of the burst's chunk size (AP refuses any other size on
/// that handle) and the download must still end at the real EOF.
#[test]
fn ardupilot_param_pck_burst_with_loss_is_byte_exact() {
    let lossy = |seed| Impairment::none().with_loss(0.05).with_seed(seed);
    let (client_link, server_link) = link_pair((245, 190), (1, 1), lossy(11), lossy(12));
    let fake = FakeServer::start(&server_link, Personality::ArduPilot);
    let client = Client::new(&client_link, 1, 1).expect("client");
    client.set_timeout(Duration::from_millis(100), 8);
    let r = Rig {
        client,
        fake,
        local: tempfile::tempdir().expect("tempdir"),
        _links: (client_link, server_link),
    };
    let heard_by = Instant::now() + Duration::from_secs(4);
    while !r._links.0.has_heard(1, 1) && Instant::now() < heard_by {
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, len) in [20_000usize, 239 * 40].into_iter().enumerate() {
        let data = pattern(len, 150 + i as u8);
        r.fake
            .put_virtual("@PARAM/param.pck", &data, AP_PARAM_FAKE_SIZE);
        fetch(&r, "@PARAM/param.pck", true, &data);
    }
}

/// Upload against AP's 5-request queue (requests beyond it are dropped):
/// completes byte for byte; retransmits only what was dropped or lost.
#[test]
fn ardupilot_upload_survives_the_queue_of_five() {
    let r = rig(Personality::ArduPilot);
    r.fake.mkdir("/up");
    for (i, &len) in [0usize, 1, 239, 240, 100_000].iter().enumerate() {
        let data = pattern(len, 60 + i as u8);
        let local = r.local.path().join(format!("u{len}.bin"));
        std::fs::write(&local, &data).expect("write");
        let before = r.fake.stats();
        r.client
            .upload(&local, "/up", None)
            .unwrap_or_else(|e| panic!("ardupilot upload {len}: {e}"));
        assert_eq!(
            r.fake.file(&format!("/up/u{len}.bin")).as_deref(),
            Some(&data[..]),
            "ardupilot upload {len} B"
        );
        let after = r.fake.stats();
        let writes = after.count(Opcode::WriteFile) - before.count(Opcode::WriteFile);
        let dropped = after.writes_dropped - before.writes_dropped;
        let blocks = len.div_ceil(MAX_DATA) as u64;
        println!(
            "ardupilot upload {len:>6} B: {writes} writes for {blocks} blocks, {dropped} dropped, \
             max in flight {}",
            after.max_in_flight
        );
        assert!(
            writes >= blocks && writes <= 2 * blocks + dropped + 8,
            "{writes} WriteFile for {blocks} blocks ({dropped} dropped by the queue)"
        );
    }
    // The queue holds 5 waiting requests next to the one in service; a
    // client with more outstanding loses some (counted as drops) and must
    // still finish, which the byte-for-byte checks above prove.
    let st = r.fake.stats();
    println!(
        "ardupilot: max in flight {}, {} requests dropped",
        st.max_in_flight, st.requests_dropped
    );
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "a session was left open"
    );
}

/// The same with a slow worker (2 ms per request), so a pipelining client
/// overruns the queue unless it keeps at most 5 requests outstanding.
#[test]
fn upload_window_grows_past_five_only_for_servers_that_keep_up() {
    // 20 ms each way: the bandwidth-delay product wants far more than 5
    // writes in flight.
    let delayed = || Impairment::none().with_delay(Duration::from_millis(20));
    let data = pattern(60_000, 77);
    let blocks = data.len().div_ceil(MAX_DATA) as u64;

    // PX4 handles every request in order: the window opens past 5.
    let r = rig_on(Personality::Px4, delayed());
    r.fake.mkdir("/up");
    let local = r.local.path().join("big.bin");
    std::fs::write(&local, &data).expect("write");
    r.client.upload(&local, "/up", None).expect("px4 upload");
    assert_eq!(r.fake.file("/up/big.bin").as_deref(), Some(&data[..]));
    let burst = most_within(&r.fake.log(), Opcode::WriteFile, Duration::from_millis(20));
    println!("px4: up to {burst} writes arrived within 20 ms");
    assert!(burst > 8, "window stayed at {burst} on a 40 ms round trip");

    // Random link loss is not a full queue: the window stays open to the end.
    let r = rig_on(Personality::Px4, delayed().with_loss(0.05).with_seed(7));
    r.fake.mkdir("/up");
    let local = r.local.path().join("big.bin");
    std::fs::write(&local, &data).expect("write");
    r.client
        .upload(&local, "/up", None)
        .expect("lossy px4 upload");
    assert_eq!(r.fake.file("/up/big.bin").as_deref(), Some(&data[..]));
    let log = r.fake.log();
    let late = most_within(
        &log[log.len() * 2 / 3..],
        Opcode::WriteFile,
        Duration::from_millis(20),
    );
    assert!(late > 8, "window closed to {late} on a 5 % lossy link");

    // ArduPilot drops what exceeds its queue of 5. With a slow worker (SD
    // card writes) a wide window keeps more than 5 waiting and requests are
    // dropped again and again: the probe sees it, holds the window at 5, and
    // remembers it for the next upload.
    let r = rig_on(Personality::ArduPilot, delayed());
    r.fake.set_service_time(Duration::from_millis(4));
    r.fake.mkdir("/up");
    let local = r.local.path().join("big.bin");
    std::fs::write(&local, &data).expect("write");
    probe_holds_window_at_five(
        &r,
        Opcode::WriteFile,
        blocks,
        |st| st.writes_dropped,
        || {
            r.client
                .upload(&local, "/up", None)
                .expect("ardupilot upload");
            assert_eq!(r.fake.file("/up/big.bin").as_deref(), Some(&data[..]));
        },
    );
}

/// Against a slow ArduPilot (`r`): the first `transfer` closes the window to
/// 5 before half of its `blocks` requests are dropped, and the second stays
/// at 5 (no further drops, at most 6 `op` requests within 20 ms).
fn probe_holds_window_at_five(
    r: &Rig,
    op: Opcode,
    blocks: u64,
    dropped: fn(&crate::fake_server::Stats) -> u64,
    transfer: impl Fn(),
) {
    transfer();
    let first = dropped(&r.fake.stats());
    println!(
        "ardupilot first {op:?} transfer: {} requests for {blocks} blocks, {first} dropped",
        r.fake.stats().count(op)
    );
    assert!(
        first < blocks / 2,
        "{first} of {blocks} {op:?} dropped: the probe did not close the window"
    );
    let seen = r.fake.log().len();
    transfer();
    assert_eq!(
        dropped(&r.fake.stats()),
        first,
        "the second {op:?} transfer went past the queue of 5 again"
    );
    let most = most_within(&r.fake.log()[seen..], op, Duration::from_millis(20));
    assert!(
        most <= 6,
        "{most} {op:?} within 20 ms: the window was not held at 5"
    );
}

/// Most `op` requests that arrived within any `span`.
fn most_within(log: &[crate::fake_server::RequestRecord], op: Opcode, span: Duration) -> usize {
    let times: Vec<Instant> = log
        .iter()
        .filter(|r| r.opcode == op.to_u8())
        .map(|r| r.at)
        .collect();
    let mut most = 0;
    let mut first = 0;
    for (i, &t) in times.iter().enumerate() {
        while t - times[first] > span {
            first += 1;
        }
        most = most.max(i + 1 - first);
    }
    most
}

/// Reads face the same queue: a plain download opens its window past 5 on
/// a server that keeps up, and on ArduPilot with a slow worker the probe
/// holds it at 5 and remembers that for the next download.
#[test]
fn read_window_grows_past_five_only_for_servers_that_keep_up() {
    let delayed = || Impairment::none().with_delay(Duration::from_millis(20));
    let data = pattern(60_000, 78);
    let blocks = data.len().div_ceil(MAX_DATA) as u64;

    let r = rig_on(Personality::Px4, delayed());
    r.fake.put_file("/logs/big.bin", &data);
    fetch(&r, "/logs/big.bin", false, &data);
    let most = most_within(&r.fake.log(), Opcode::ReadFile, Duration::from_millis(20));
    println!("px4: up to {most} reads arrived within 20 ms");
    assert!(
        most > 8,
        "read window stayed at {most} on a 40 ms round trip"
    );

    let r = rig_on(Personality::ArduPilot, delayed());
    r.fake.set_service_time(Duration::from_millis(4));
    r.fake.put_file("/logs/big.bin", &data);
    probe_holds_window_at_five(
        &r,
        Opcode::ReadFile,
        blocks,
        |st| st.requests_dropped,
        || {
            fetch(&r, "/logs/big.bin", false, &data);
        },
    );
}

#[test]
fn ardupilot_upload_with_slow_worker_completes() {
    let r = rig(Personality::ArduPilot);
    r.fake.set_service_time(Duration::from_millis(4));
    let data = pattern(30_000, 77);
    let local = r.local.path().join("slow.bin");
    std::fs::write(&local, &data).expect("write");
    let t = Instant::now();
    r.client
        .upload(&local, "/", None)
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let st = r.fake.stats();
    println!(
        "ardupilot slow worker: 30000 B in {:?}, max in flight {}, {} writes dropped",
        t.elapsed(),
        st.max_in_flight,
        st.writes_dropped
    );
    assert_eq!(r.fake.file("/slow.bin").as_deref(), Some(&data[..]));
}

/// MAVSDK 4.1 leaves offset 0 in WriteFile ACKs: uploads still complete.
#[test]
fn mavsdk41_upload_completes_despite_offset_zero_acks() {
    let r = rig(Personality::Mavsdk41);
    for (i, &len) in [0usize, 1, 239, 240, 4095, 100_000].iter().enumerate() {
        let data = pattern(len, 90 + i as u8);
        let local = r.local.path().join(format!("m{len}.bin"));
        std::fs::write(&local, &data).expect("write");
        let t = Instant::now();
        r.client
            .upload(&local, "/", None)
            .unwrap_or_else(|e| panic!("mavsdk41 upload {len}: {e}"));
        assert!(t.elapsed() < Duration::from_secs(5), "upload {len} B slow");
        assert_eq!(
            r.fake.file(&format!("/m{len}.bin")).as_deref(),
            Some(&data[..]),
            "mavsdk41 upload {len} B"
        );
    }
    assert_eq!(
        r.client
            .are_files_identical(&r.local.path().join("m4095.bin"), "/m4095.bin"),
        Ok(true)
    );
}

/// MAVSDK 4.1 ends a burst round every 150 packets and sends them faster
/// than a 92,160 B/s radio carries them. From the second burst on, each
/// next round is asked while the current one still streams, timed to reach
/// the server after it sent the round's last packet: no round is cut short,
/// and the link does not idle for a round trip between rounds. The client
/// runs at its defaults.
#[test]
fn mavsdk41_burst_rounds_are_asked_before_the_current_one_ends() {
    const DELAY: Duration = Duration::from_millis(20);
    let radio = Impairment::none().with_rate(92_160).with_delay(DELAY);
    let (client_link, server_link) = link_pair((245, 190), (1, 1), radio.clone(), radio);
    let r = Rig {
        client: Client::new(&client_link, 1, 1).expect("client"),
        fake: FakeServer::start(&server_link, Personality::Mavsdk41),
        local: tempfile::tempdir().expect("tempdir"),
        _links: (client_link, server_link),
    };
    // Bytes of a FILE_TRANSFER_PROTOCOL frame with 239 data bytes.
    const FULL_FRAME: usize = 266;
    let round = MAVSDK_BURST_PACKETS as usize * MAX_DATA;
    let data = pattern(6 * round, 77);
    r.fake.put_file("/log.bin", &data);
    fetch(&r, "/log.bin", true, &data);

    let log = r.fake.log();
    let asked_at = |seq: u16| {
        log.iter()
            .find(|q| q.seq == seq && q.opcode == Opcode::BurstReadFile.to_u8())
            .map(|q| q.at)
            .expect("the burst's request in the log")
    };
    let bursts = r.fake.bursts();
    for this in &bursts {
        assert_eq!(
            this.packets, MAVSDK_BURST_PACKETS,
            "the round from {} was cut short: {bursts:?}",
            this.start_offset
        );
    }
    // The link carries a round in 150 frames' airtime. A round asked when
    // the last one ended reaches the server that long plus a round trip
    // (two link delays) after the last one was asked, at the earliest.
    let round_airtime = Duration::from_secs_f64(150.0 * FULL_FRAME as f64 / 92_160.0);
    let asked: Vec<Instant> = bursts.iter().map(|b| asked_at(b.request_seq)).collect();
    let early = asked
        .windows(2)
        .filter(|pair| pair[1] - pair[0] < round_airtime + 2 * DELAY)
        .count();
    // The first round is followed by timed reads, the second is asked
    // when it ends (the length of a round is known once one ended early);
    // every later one is asked early (one may be late on a loaded host).
    assert!(
        bursts.len() >= 5 && early >= bursts.len() - 3,
        "{early} of {} rounds asked early: {asked:?}",
        bursts.len()
    );
}

/// MAVSDK 4.1 sends no EOF NAK after a burst: a file whose size is a multiple
/// of 239 (also of 150 packets, where bc=1 is set anyway) must end without
/// waiting for a timeout.
#[test]
fn mavsdk41_burst_of_multiple_of_239_ends_without_timeout() {
    let r = rig(Personality::Mavsdk41);
    r.client.set_timeout(Duration::from_millis(1500), 3);
    for (i, packets) in [1usize, 2, 150, 300].into_iter().enumerate() {
        let len = packets * MAX_DATA;
        let data = pattern(len, 120 + i as u8);
        let path = format!("/x{len}.bin");
        r.fake.put_file(&path, &data);
        for burst in [true, false] {
            let took = fetch(&r, &path, burst, &data);
            // Pacing alone is ~2 ms per packet; a timeout would add ≥ 1.5 s.
            let pacing = Duration::from_micros(2100 * packets as u64);
            assert!(
                took < pacing + Duration::from_millis(700),
                "{len} B burst={burst} took {took:?} (pacing {pacing:?}): waited for a timeout"
            );
        }
    }
    assert_eq!(r.fake.stats().zero_size_bursts, 0);
}

/// PX4 stops a burst with bc=1 after ~35000 B: the client goes on from there
/// (re-bursting, or with windowed reads when those prove faster) and every
/// data byte is sent once.
#[test]
fn px4_burst_across_several_bursts_sends_each_byte_once() {
    let r = rig(Personality::Px4);
    let len = 100_000;
    let data = pattern(len, 7);
    r.fake.put_file("/big.bin", &data);
    fetch(&r, "/big.bin", true, &data);
    let bursts = r.fake.bursts();
    let packets: u32 = bursts.iter().map(|b| b.packets).sum();
    assert!(
        !bursts.is_empty() && (bursts[0].packets as usize) < len.div_ceil(MAX_DATA),
        "the first burst must stop short of the end (PX4 stops near 35000 B): {bursts:?}"
    );
    let reads = r.fake.stats().count(Opcode::ReadFile);
    // Each 239-byte chunk once, plus at most one read that finds the end.
    let chunks = len.div_ceil(MAX_DATA) as u64;
    let sent = packets as u64 + reads;
    assert!(
        (chunks..=chunks + 1).contains(&sent),
        "{packets} burst packets + {reads} reads for {chunks} chunks: something was sent twice"
    );
    let mut offsets: Vec<u32> = bursts.iter().map(|b| b.start_offset).collect();
    offsets.dedup();
    assert_eq!(offsets.len(), bursts.len(), "a burst was re-requested");
}

/// MAVSDK 4.1 paces bursts at ~115 KB/s, below this link's rate: after
/// its first round the client times reads, finds them faster and reads the
/// rest of the file with the same window (the rest becomes one hole). Every
/// chunk is asked for once, the end is confirmed once, no second burst.
#[test]
fn mavsdk41_slow_burst_hands_over_to_reads() {
    // 200 kB/s with a 60 ms round trip: reads (~180 kB/s of data) beat the burst.
    let r = rig_on(
        Personality::Mavsdk41,
        Impairment::none()
            .with_delay(Duration::from_millis(30))
            .with_rate(200_000),
    );
    let len = 300_000;
    let data = pattern(len, 21);
    r.fake.put_file("/big.bin", &data);
    fetch(&r, "/big.bin", true, &data);
    let bursts = r.fake.bursts();
    assert_eq!(bursts.len(), 1, "the client went on bursting: {bursts:?}");
    let mut offsets: Vec<u32> = r
        .fake
        .log()
        .iter()
        .filter(|q| q.opcode == Opcode::ReadFile.to_u8())
        .map(|q| q.offset)
        .collect();
    let reads = offsets.len();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(
        offsets.len(),
        reads,
        "a chunk was read twice on a clean link"
    );
    let from = bursts[0].packets as usize * MAX_DATA;
    let chunks = (len - from).div_ceil(MAX_DATA);
    assert_eq!(reads, chunks + 1, "reads of the rest plus one end check");
    assert_eq!(*offsets.last().expect("reads"), len as u32, "no end check");
}

/// ArduPilot ends a burst with bc=1 on its 500th packet (a full one): the
/// client re-bursts from there and every data byte is sent once.
#[test]
fn ardupilot_burst_capped_at_500_packets_is_continued() {
    let r = rig(Personality::ArduPilot);
    let len = AP_BURST_PACKETS as usize * MAX_DATA + 500;
    let data = pattern(len, 9);
    r.fake.put_file("/cap.bin", &data);
    fetch(&r, "/cap.bin", true, &data);
    let bursts = r.fake.bursts();
    assert!(bursts.len() >= 2, "saw {} bursts", bursts.len());
    assert_eq!(bursts[0].packets, AP_BURST_PACKETS);
    let packets: u32 = bursts.iter().map(|b| b.packets).sum();
    assert_eq!(
        packets as usize,
        len.div_ceil(MAX_DATA),
        "data packets sent"
    );
}

/// After a burst the client's next request must carry a seq above every seq
/// the burst used, or PX4/AP replay their cached last burst reply (§5, §10.1).
fn seq_after_burst(p: Personality) {
    let r = rig(p);
    for len in [1usize, 239, 480] {
        let data = pattern(len, len as u8);
        let path = format!("/s{len}.bin");
        r.fake.put_file(&path, &data);
        for _ in 0..3 {
            fetch(&r, &path, true, &data);
        }
    }
    let log = r.fake.log();
    let bursts = r.fake.bursts();
    assert!(!bursts.is_empty());
    for b in &bursts {
        let i = log
            .iter()
            .position(|q| q.opcode == Opcode::BurstReadFile.to_u8() && q.seq == b.request_seq)
            .expect("burst request in the log");
        let next = log[i + 1..].iter().find(|q| {
            q.opcode != Opcode::BurstReadFile.to_u8() && q.opcode != Opcode::ReadFile.to_u8()
        });
        let Some(next) = next else { continue };
        // Equal is harmless (a cache replays only for seq+1 == cached seq):
        // it happens when a trailing EOF NAK is still on its way.
        let ahead = next.seq.wrapping_sub(b.last_seq);
        assert!(
            ahead < 0x8000,
            "{}: request {:?} seq {} after a burst whose last packet was seq {}",
            p.name(),
            Opcode::from_u8(next.opcode),
            next.seq,
            b.last_seq
        );
    }
    assert_eq!(
        r.fake.open_sessions_settled(SETTLE),
        0,
        "a session was left open"
    );
    assert_eq!(
        r.fake.stats().wrong_replays,
        0,
        "a cached reply answered another request"
    );
}

#[test]
fn px4_next_seq_after_burst_is_above_the_burst() {
    seq_after_burst(Personality::Px4);
}

#[test]
fn ardupilot_next_seq_after_burst_is_above_the_burst() {
    seq_after_burst(Personality::ArduPilot);
}

#[test]
fn mavsdk41_next_seq_after_burst_is_above_the_burst() {
    seq_after_burst(Personality::Mavsdk41);
}

/// Listing quirks: PX4 answers an empty directory with ACK size 0 and opcode
/// 16 with UnknownCommand; old AP answers 16 with Fail; MAVSDK supports 16.
#[test]
fn listings_of_every_personality() {
    for p in [
        Personality::Px4,
        Personality::ArduPilot,
        Personality::Mavsdk41,
    ] {
        let r = rig(p);
        r.fake.mkdir("/empty");
        let names: Vec<String> = (0..40).map(|i| format!("file_{i:02}.txt")).collect();
        for (i, n) in names.iter().enumerate() {
            r.fake.put_file(&format!("/full/{n}"), &pattern(i, 1));
        }
        r.fake.mkdir("/full/sub");
        let t = Instant::now();
        let empty = r
            .client
            .list_directory("/empty")
            .unwrap_or_else(|e| panic!("{} list empty: {e}", p.name()));
        assert!(empty.entries.is_empty(), "{}", p.name());
        let full = r
            .client
            .list_directory("/full")
            .unwrap_or_else(|e| panic!("{} list full: {e}", p.name()));
        assert_eq!(full.files(), names, "{}", p.name());
        assert_eq!(full.dirs(), vec!["sub"], "{}", p.name());
        for (i, e) in full.entries.iter().filter(|e| e.name != "sub").enumerate() {
            assert_eq!(e.size_bytes, i as u64, "{} {}", p.name(), e.name);
        }
        assert_eq!(
            r.client.list_directory("/nope").map_err(|e| e.result),
            Err(FtpResult::FileDoesNotExist),
            "{}",
            p.name()
        );
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{} listings took {:?}",
            p.name(),
            t.elapsed()
        );
    }
}

/// A failed open leaves no session behind: the next transfer works on the
/// single-session servers, and nothing is written locally.
#[test]
fn failed_open_leaves_no_session_and_no_file() {
    for p in [
        Personality::Px4,
        Personality::ArduPilot,
        Personality::Mavsdk41,
    ] {
        let r = rig(p);
        let data = pattern(1000, 3);
        r.fake.put_file("/ok.bin", &data);
        for burst in [false, true] {
            assert_eq!(
                r.client
                    .download("/missing.bin", r.local.path(), burst, None)
                    .map_err(|e| e.result),
                Err(FtpResult::FileDoesNotExist),
                "{}",
                p.name()
            );
            let names = dir_names(r.local.path());
            assert!(
                names.iter().all(|n| n == "ok.bin"),
                "{}: left {names:?}",
                p.name()
            );
            fetch(&r, "/ok.bin", burst, &data);
        }
    }
}

/// Raw wire check of the fakes themselves, so that a passing client test
/// means the quirk was really on the wire: burst endings per docs/PROTOCOL_NOTES.md §6.
#[test]
fn fake_bursts_end_like_the_real_servers() {
    use mavftp::protocol::{FtpPacket, NakCode};
    // (opcode is NAK, offset, size, bc) of each reply; bc of a PX4 NAK is not compared.
    type Wire = Vec<(bool, u32, usize, bool)>;
    let burst = |p: Personality, len: usize, chunk: usize, from: u32| -> Wire {
        let (a, b) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
        let fake = FakeServer::start(&b, p);
        fake.put_file("/f", &pattern(len, 1));
        let sub = a.subscribe(|m| m.packet.opcode.is_reply());
        let mut open = FtpPacket::request(Opcode::OpenFileRO, 10);
        open.data = b"/f".to_vec();
        a.send_ftp(1, 1, &open).expect("send");
        let ack = sub
            .receiver
            .recv_timeout(Duration::from_secs(1))
            .expect("open ack");
        assert_eq!(ack.packet.data_u32(), Some(len as u32));
        let mut req = FtpPacket::request(Opcode::BurstReadFile, 20);
        req.session = ack.packet.session;
        req.offset = from;
        req.data = vec![0; chunk];
        a.send_ftp(1, 1, &req).expect("send");
        let mut wire = Vec::new();
        let mut seq = 21u16;
        while let Ok(m) = sub.receiver.recv_timeout(Duration::from_millis(150)) {
            let q = m.packet;
            assert_eq!(q.seq, seq, "{p:?}: burst seqs advance by one");
            assert_eq!(q.req_opcode, Opcode::BurstReadFile);
            seq = seq.wrapping_add(1);
            let nak = q.opcode == Opcode::Nak;
            if nak {
                assert_eq!(q.nak_code(), Some(NakCode::Eof), "{p:?}");
            }
            let bc = q.burst_complete && !(nak && p == Personality::Px4);
            wire.push((nak, q.offset, q.data.len(), bc));
        }
        wire
    };
    use Personality::*;
    let (d, e) = (false, true);
    // Exact multiple of the chunk (ArduPilot's EOF carries the offset of
    // the last data packet).
    let px4 = vec![(d, 0, 239, d), (d, 239, 239, d), (e, 478, 1, d)];
    assert_eq!(burst(Px4, 478, 239, 0), px4);
    assert_eq!(
        burst(ArduPilot, 478, 239, 0),
        vec![(d, 0, 239, d), (d, 239, 239, d), (e, 239, 1, d)]
    );
    assert_eq!(
        burst(Mavsdk41, 478, 239, 0),
        vec![(d, 0, 239, d), (d, 239, 239, e)]
    );
    // Short last packet.
    assert_eq!(
        burst(Px4, 300, 239, 0),
        vec![(d, 0, 239, d), (d, 239, 61, d), (e, 300, 1, d)]
    );
    assert_eq!(
        burst(ArduPilot, 300, 239, 0),
        vec![(d, 0, 239, d), (d, 239, 61, e), (e, 239, 1, d)]
    );
    assert_eq!(
        burst(Mavsdk41, 300, 239, 0),
        vec![(d, 0, 239, d), (d, 239, 61, e)]
    );
    // PX4 ignores the chunk size; AP honours it.
    assert_eq!(burst(Px4, 300, 100, 0)[0], (d, 0, 239, d));
    assert_eq!(burst(ArduPilot, 300, 100, 0)[0], (d, 0, 100, d));
    // Burst at the end: NAK EOF, ArduPilot and MAVSDK with offset 0.
    assert_eq!(burst(Px4, 300, 239, 300), vec![(e, 300, 1, d)]);
    assert_eq!(burst(ArduPilot, 300, 239, 300), vec![(e, 0, 1, d)]);
    assert_eq!(burst(Mavsdk41, 300, 239, 300), vec![(e, 0, 1, d)]);
}

/// A bare requester on its own link to a fake: one request, its reply.
struct RawPeer {
    link: Link,
    sub: mavftp::link::FtpSubscription,
    seq: u16,
}

impl RawPeer {
    /// A second ground station (own ids `own`) on a new link to `fake`.
    fn new(fake: &FakeServer, own: (u8, u8)) -> (RawPeer, Link) {
        let (a, b) = link_pair(own, (1, 1), Impairment::none(), Impairment::none());
        fake.serve_link(&b);
        let sub = a.subscribe(|m| m.packet.opcode.is_reply());
        (
            RawPeer {
                link: a,
                sub,
                // Seqs apart per station (PX4 replays its cache for any seq match).
                seq: u16::from(own.0) * 200,
            },
            b,
        )
    }

    fn call(
        &mut self,
        op: Opcode,
        session: u8,
        offset: u32,
        data: &[u8],
    ) -> mavftp::protocol::FtpPacket {
        let mut req = mavftp::protocol::FtpPacket::request(op, self.seq);
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

fn nak_of(p: &mavftp::protocol::FtpPacket) -> Option<mavftp::protocol::NakCode> {
    p.nak_code()
}

/// Raw wire check of the fakes' session rules with two ground stations on
/// two links (docs/PROTOCOL_NOTES.md §5): ArduPilot's one shared session and
/// its 3 s timer, PX4's single session closed by any reset or by idling.
#[test]
fn fake_session_rules_match_the_real_servers() {
    use mavftp::protocol::NakCode::*;
    let (l0, l1) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let ap = FakeServer::start(&l1, Personality::ArduPilot);
    ap.put_file("/f", &pattern(1000, 1));
    ap.put_file("/g", &pattern(1000, 2));
    let (mut a, _a_link) = RawPeer::new(&ap, (245, 190));
    let (mut b, _b_link) = RawPeer::new(&ap, (246, 190));
    let open = a.call(Opcode::OpenFileRO, 7, 0, b"/f");
    assert_eq!((open.opcode, open.session), (Opcode::Ack, 7));
    // Another id within 3 s of the last reply: InvalidSession, for any opcode.
    assert_eq!(
        nak_of(&b.call(Opcode::OpenFileRO, 9, 0, b"/g")),
        Some(InvalidSession)
    );
    assert_eq!(
        nak_of(&b.call(Opcode::ListDirectory, 9, 0, b"/")),
        Some(InvalidSession)
    );
    // Terminate of another id: ACK only, the file stays open for session 7...
    assert_eq!(
        b.call(Opcode::TerminateSession, 9, 0, &[]).opcode,
        Opcode::Ack
    );
    assert_eq!(ap.open_sessions(), 1);
    // ...but the timer is zeroed: the next open of another id takes over.
    let taken = b.call(Opcode::OpenFileRO, 9, 0, b"/g");
    assert_eq!((taken.opcode, taken.session), (Opcode::Ack, 9));
    assert_eq!(ap.stats().sessions_lost, 1);
    assert_eq!(
        nak_of(&a.call(Opcode::ReadFile, 7, 0, &[0; 10])),
        Some(InvalidSession)
    );
    // Reset of another id is acknowledged without closing anything.
    assert_eq!(a.call(Opcode::ResetSessions, 7, 0, &[]).opcode, Opcode::Ack);
    assert_eq!(ap.open_sessions(), 1);
    assert_eq!(
        b.call(Opcode::TerminateSession, 9, 0, &[]).opcode,
        Opcode::Ack
    );
    assert_eq!(ap.open_sessions(), 0);
    assert_eq!(
        nak_of(&a.call(Opcode::ReadFile, 7, 0, &[0; 10])),
        Some(FileNotFound)
    );
    drop(ap);
    drop((l0, l1));

    let (_l0, l1) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let px4 = FakeServer::start(&l1, Personality::Px4);
    px4.put_file("/f", &pattern(100_000, 1));
    let (mut a, _a_link) = RawPeer::new(&px4, (245, 190));
    let (mut b, _b_link) = RawPeer::new(&px4, (246, 190));
    assert_eq!(a.call(Opcode::OpenFileRO, 5, 0, b"/f").session, 0);
    assert_eq!(
        nak_of(&b.call(Opcode::OpenFileRO, 0, 0, b"/f")),
        Some(NoSessionsAvailable)
    );
    assert_eq!(b.call(Opcode::ResetSessions, 0, 0, &[]).opcode, Opcode::Ack);
    assert_eq!(
        nak_of(&a.call(Opcode::ReadFile, 0, 0, &[0; 10])),
        Some(InvalidSession)
    );
    // Idle close: no request for the idle time closes the session.
    px4.set_px4_idle_timeout(Duration::from_millis(100));
    assert_eq!(a.call(Opcode::OpenFileRO, 0, 0, b"/f").opcode, Opcode::Ack);
    assert_eq!(a.call(Opcode::ReadFile, 0, 0, &[0; 10]).opcode, Opcode::Ack);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        nak_of(&a.call(Opcode::ReadFile, 0, 0, &[0; 10])),
        Some(InvalidSession)
    );
    // The first burst packet leaves ~10 ms after the request.
    px4.set_px4_idle_timeout(Duration::from_secs(10));
    assert_eq!(a.call(Opcode::OpenFileRO, 0, 0, b"/f").opcode, Opcode::Ack);
    let t = Instant::now();
    let first = a.call(Opcode::BurstReadFile, 0, 0, &[0; 239]);
    assert_eq!((first.opcode, first.offset), (Opcode::Ack, 0));
    assert!(
        t.elapsed() >= Duration::from_millis(9),
        "burst started after {:?}",
        t.elapsed()
    );
}

/// PX4 on a 57600-baud radio (1 s drop-tail queue, 3 % loss) sends burst
/// packets only as its TX buffer drains: our client answers the first hole
/// with a keep-alive, PX4's answer lets the holes be read while the round
/// streams, and the file comes by bursts (reads only for the lost packets).
#[test]
fn px4_bursts_over_a_radio_are_read_while_they_stream() {
    let radio = |seed| Impairment::radio_57600().with_loss(0.03).with_seed(seed);
    let r = rig_at_defaults(Personality::Px4, radio(31), radio(32));
    r.fake.set_px4_link_rate(5760);
    let data = pattern(40_000, 33);
    r.fake.put_file("/log.bin", &data);
    fetch(&r, "/log.bin", true, &data);
    let stats = r.fake.stats();
    assert!(stats.count(Opcode::None) > 0, "no keep-alive: {stats:?}");
    // 168 packets' worth: the reads are for lost packets only (an unpaced
    // PX4 fills the radio's queue, and most of the file then comes by reads).
    assert!(
        stats.count(Opcode::ReadFile) < 168 / 4,
        "the file came by reads, not bursts: {stats:?}"
    );
    assert!(
        stats.reads_during_burst > 0,
        "no hole was read while the burst streamed: {stats:?}"
    );
}
