//! The link simulator: impairments, determinism, rate limiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mavftp::link::sim::{ImpairedPipe, Impairment, LossMode, QueueLimit, link_pair};
use mavftp::protocol::{FtpPacket, Opcode};
use parking_lot::Mutex;

type Log = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

fn recording_pipe(imp: Impairment) -> (ImpairedPipe, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let pipe = ImpairedPipe::new(
        imp,
        Box::new(move |bytes: &[u8]| sink.lock().push((Instant::now(), bytes.to_vec()))),
    )
    .unwrap();
    (pipe, log)
}

fn frame(i: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(4)];
    f[..4].copy_from_slice(&i.to_le_bytes());
    f
}

fn wait_for_count(log: &Log, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while log.lock().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Push 2000 frames through a lossy, duplicating, corrupting, reordering pipe.
fn run_mixed(seed: u64) -> (Vec<Vec<u8>>, mavftp::link::sim::PipeStats) {
    let imp = Impairment::none()
        .with_loss(0.1)
        .with_duplicate(0.05)
        .with_corrupt(0.05)
        .with_reorder(0.05, Duration::from_millis(300))
        .with_seed(seed);
    let (pipe, log) = recording_pipe(imp);
    for i in 0..2000 {
        pipe.push(&frame(i, 64));
    }
    // Everything is due within the 300 ms hold.
    let stats_before = pipe.stats();
    let expected = (stats_before.offered - stats_before.lost + stats_before.duplicated) as usize;
    wait_for_count(&log, expected, Duration::from_secs(3));
    let stats = pipe.stats();
    drop(pipe);
    let frames = log.lock().iter().map(|(_, f)| f.clone()).collect();
    (frames, stats)
}

#[test]
fn same_seed_gives_the_same_delivered_sequence() {
    let (a, stats_a) = run_mixed(42);
    let (b, stats_b) = run_mixed(42);
    assert_eq!(stats_a, stats_b);
    assert_eq!(a, b);
    let (c, _) = run_mixed(43);
    assert_ne!(a, c, "a different seed should change the outcome");
    assert!(stats_a.duplicated > 0 && stats_a.corrupted > 0 && stats_a.reordered > 0);
}

#[test]
fn loss_rate_is_roughly_as_configured() {
    let (pipe, log) = recording_pipe(Impairment::none().with_loss(0.2).with_seed(7));
    for i in 0..2000 {
        pipe.push(&frame(i, 32));
    }
    let stats = pipe.stats();
    wait_for_count(&log, (2000 - stats.lost) as usize, Duration::from_secs(2));
    let delivered = log.lock().len() as f64;
    let loss = 1.0 - delivered / 2000.0;
    assert!((0.17..=0.23).contains(&loss), "loss {loss}");
    assert_eq!(stats.lost as usize + log.lock().len(), 2000);
}

#[test]
fn rate_limit_spaces_frames_by_their_airtime() {
    let rate = 20_000u32;
    let (pipe, log) = recording_pipe(Impairment::none().with_rate(rate));
    let frames = 50;
    let len = 200;
    let start = Instant::now();
    for i in 0..frames {
        pipe.push(&frame(i, len));
    }
    wait_for_count(&log, frames as usize, Duration::from_secs(3));
    let last = log.lock().last().map(|(t, _)| *t).unwrap();
    let took = (last - start).as_secs_f64();
    let expected = (frames as usize * len) as f64 / rate as f64;
    assert!(
        (took - expected).abs() <= expected * 0.15,
        "took {took:.3} s, expected {expected:.3} s"
    );
    // In order, nothing lost.
    let got: Vec<u32> = log
        .lock()
        .iter()
        .map(|(_, f)| u32::from_le_bytes([f[0], f[1], f[2], f[3]]))
        .collect();
    assert_eq!(got, (0..frames).collect::<Vec<_>>());
}

#[test]
fn a_full_queue_drops_the_tail() {
    let (pipe, log) = recording_pipe(
        Impairment::none()
            .with_rate(1000)
            .with_queue_limit(QueueLimit::Bytes(1000)),
    );
    for i in 0..100 {
        pipe.push(&frame(i, 100));
    }
    let stats = pipe.stats();
    assert!((89..=90).contains(&stats.queue_dropped), "{stats:?}");
    drop(pipe);
    // Queue time limit: a 1 s backlog at most.
    let (pipe, _log2) = recording_pipe(
        Impairment::none()
            .with_rate(1000)
            .with_queue_limit(QueueLimit::Time(Duration::from_secs(1))),
    );
    for i in 0..100 {
        pipe.push(&frame(i, 100));
    }
    let accepted = 100 - pipe.stats().queue_dropped;
    assert!((10..=12).contains(&accepted), "accepted {accepted}");
    let _ = log;
}

#[test]
fn delay_holds_every_frame() {
    let (pipe, log) = recording_pipe(Impairment::none().with_delay(Duration::from_millis(60)));
    let start = Instant::now();
    pipe.push(&frame(1, 10));
    wait_for_count(&log, 1, Duration::from_secs(2));
    let at = log.lock()[0].0;
    let took = at - start;
    assert!(
        took >= Duration::from_millis(60) && took < Duration::from_millis(200),
        "{took:?}"
    );
}

#[test]
fn duplication_delivers_twice() {
    let (pipe, log) = recording_pipe(Impairment::none().with_duplicate(1.0));
    for i in 0..10 {
        pipe.push(&frame(i, 10));
    }
    wait_for_count(&log, 20, Duration::from_secs(2));
    assert_eq!(log.lock().len(), 20);
}

#[test]
fn corrupted_frames_never_reach_subscribers() {
    let imp = Impairment::none().with_corrupt(0.3).with_seed(3);
    let (gcs, vehicle) = link_pair((245, 190), (1, 1), imp, Impairment::none());
    let sub = vehicle.subscribe(|_| true);
    let mut sent = Vec::new();
    for seq in 0..300u16 {
        let mut p = FtpPacket::request(Opcode::WriteFile, seq);
        p.data = (0..100).map(|i| (i as u16 * 7 + seq) as u8).collect();
        gcs.send_ftp(1, 1, &p).unwrap();
        sent.push(p);
    }
    let mut received = 0;
    while let Ok(got) = sub.receiver.recv_timeout(Duration::from_millis(300)) {
        assert_eq!(
            got.packet, sent[got.packet.seq as usize],
            "a corrupted frame got through"
        );
        received += 1;
    }
    assert!(
        (150..=260).contains(&received),
        "received {received} of 300"
    );
}

#[test]
fn simulated_link_reports_its_rate_and_delivers_in_time() {
    let imp = Impairment::none()
        .with_rate(5760)
        .with_delay(Duration::from_millis(10));
    let (gcs, vehicle) = link_pair((245, 190), (1, 1), imp, Impairment::none());
    assert_eq!(gcs.byte_rate(), Some(5760));
    assert_eq!(vehicle.byte_rate(), None);
    let sub = vehicle.subscribe(|_| true);
    let start = Instant::now();
    let mut bytes = 0;
    for seq in 0..20u16 {
        let mut p = FtpPacket::request(Opcode::WriteFile, seq);
        p.data = vec![0xA5; 239];
        gcs.send_ftp(1, 1, &p).unwrap();
        bytes += 12 + 3 + 251; // MAVLink 2 header + crc, targets, full payload
    }
    for _ in 0..20 {
        sub.receiver.recv_timeout(Duration::from_secs(3)).unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    let expected = bytes as f64 / 5760.0 + 0.010;
    assert!(
        (took - expected).abs() <= expected * 0.15,
        "took {took:.3} s, expected {expected:.3} s"
    );
}

#[test]
fn udp_proxy_relays_both_ways_with_impairments() {
    use mavftp::link::Link;
    use mavftp::link::sim::UdpProxy;
    let server = Link::open("udpin://127.0.0.1:0", 1, 1).unwrap();
    let server_addr = server.local_addr().unwrap();
    let imp = Impairment::none()
        .with_loss(0.2)
        .with_delay(Duration::from_millis(5))
        .with_seed(9);
    let proxy = UdpProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        server_addr,
        imp.clone(),
        imp,
    )
    .unwrap();
    let client = Link::open(&format!("udpout://{}", proxy.listen_addr()), 245, 190).unwrap();
    let at_server = server.subscribe(|_| true);
    let at_client = client.subscribe(|_| true);
    for seq in 0..200u16 {
        client
            .send_ftp(1, 1, &FtpPacket::request(Opcode::ListDirectory, seq))
            .unwrap();
    }
    let mut up = 0;
    while at_server
        .receiver
        .recv_timeout(Duration::from_millis(300))
        .is_ok()
    {
        up += 1;
    }
    assert!((130..=185).contains(&up), "{up} of 200 went up");
    for seq in 0..200u16 {
        server
            .send_ftp(245, 190, &FtpPacket::request(Opcode::Ack, seq))
            .unwrap();
    }
    let mut down = 0;
    while at_client
        .receiver
        .recv_timeout(Duration::from_millis(300))
        .is_ok()
    {
        down += 1;
    }
    assert!((130..=185).contains(&down), "{down} of 200 came down");
    let stats = proxy.up_stats();
    assert!(stats.lost > 0 && stats.delivered > 0, "{stats:?}");
}

// ---------------------------------------------------------------- loss modes

/// Saturates a 20 000 B/s pipe with 250 frames of 200 B (2.5 s of airtime)
/// at 25 % loss; returns the delivered frame numbers, the delivered byte rate
/// from the first push to the last delivery, and the counters.
fn saturate(mode: LossMode, seed: u64) -> (Vec<u32>, f64, mavftp::link::sim::PipeStats) {
    let imp = Impairment::none()
        .with_rate(SATURATE_RATE)
        .with_loss(SATURATE_LOSS)
        .with_loss_mode(mode)
        .with_seed(seed);
    let (pipe, log) = recording_pipe(imp);
    let start = Instant::now();
    for i in 0..SATURATE_FRAMES {
        pipe.push(&frame(i, SATURATE_LEN));
    }
    let expected = (SATURATE_FRAMES as u64 - pipe.stats().lost) as usize;
    wait_for_count(&log, expected, Duration::from_secs(6));
    let stats = pipe.stats();
    drop(pipe);
    let log = log.lock();
    assert_eq!(log.len(), expected, "{mode}: {stats:?}");
    let last = log.last().map(|(t, _)| *t).expect("something delivered");
    let bytes: usize = log.iter().map(|(_, f)| f.len()).sum();
    let rate = bytes as f64 / (last - start).as_secs_f64();
    let ids = log
        .iter()
        .map(|(_, f)| u32::from_le_bytes([f[0], f[1], f[2], f[3]]))
        .collect();
    (ids, rate, stats)
}

const SATURATE_RATE: u32 = 20_000;
const SATURATE_LOSS: f64 = 0.25;
const SATURATE_FRAMES: u32 = 250;
const SATURATE_LEN: usize = 200;

/// Checks a measured delivery rate against the ideal one: a late delivery
/// thread (a loaded machine) can only make it lower, never higher.
fn assert_rate_near(what: &str, got: f64, ideal: f64) {
    assert!(
        got >= ideal * 0.88 && got <= ideal * 1.02,
        "{what}: {got:.0} B/s, ideal {ideal:.0} B/s"
    );
}

/// The ideal on-air rate of a saturated link: every frame up to the last one
/// delivered took its airtime, the lost ones included, so the link carried
/// rate × delivered / (last + 1) — rate × (1 − p) for the loss p realised.
fn on_air_ideal(ids: &[u32]) -> f64 {
    let last = *ids.last().expect("something delivered") as f64;
    let realised_loss = 1.0 - ids.len() as f64 / (last + 1.0);
    assert!(
        (SATURATE_LOSS - 0.07..=SATURATE_LOSS + 0.07).contains(&realised_loss),
        "realised loss {realised_loss}"
    );
    SATURATE_RATE as f64 * (1.0 - realised_loss)
}

#[test]
fn on_air_loss_delivers_rate_times_one_minus_p_at_saturation() {
    let (ids, rate, stats) = saturate(LossMode::OnAir, 5);
    assert!(stats.lost > 40, "{stats:?}");
    assert_rate_near("on-air", rate, on_air_ideal(&ids));
}

#[test]
fn before_link_loss_delivers_the_full_rate_at_saturation() {
    let (_, rate, stats) = saturate(LossMode::BeforeLink, 5);
    assert!(stats.lost > 40, "{stats:?}");
    assert_rate_near("before-link", rate, SATURATE_RATE as f64);
}

#[test]
fn both_loss_modes_lose_the_same_frames_for_a_seed() {
    let (on_air, _, a) = saturate(LossMode::OnAir, 11);
    let (before, _, b) = saturate(LossMode::BeforeLink, 11);
    assert_eq!(
        on_air, before,
        "the mode changes when frames arrive, not which"
    );
    assert_eq!((a.lost, a.delivered), (b.lost, b.delivered));
    let (other, _, _) = saturate(LossMode::OnAir, 12);
    assert_ne!(on_air, other, "a different seed loses other frames");
}

#[test]
fn a_frame_lost_on_air_still_holds_its_place_in_the_queue() {
    // 1000 B/s, a 1000 B queue: only the first 10 frames of 100 B get onto
    // the link whatever happens to them on the air.
    let run = |mode| {
        let (pipe, _log) = recording_pipe(
            Impairment::none()
                .with_rate(1000)
                .with_queue_limit(QueueLimit::Bytes(1000))
                .with_loss(0.5)
                .with_loss_mode(mode)
                .with_seed(3),
        );
        for i in 0..100 {
            pipe.push(&frame(i, 100));
        }
        pipe.stats()
    };
    let on_air = run(LossMode::OnAir);
    let taken = on_air.offered - on_air.queue_dropped;
    assert!((10..=11).contains(&taken), "{on_air:?}");
    assert!(on_air.lost >= 2 && on_air.lost < taken, "{on_air:?}");
    // Lost on entry, they leave their room to others: about 50 lost, and
    // still 10 get onto the link.
    let before = run(LossMode::BeforeLink);
    let taken = before.offered - before.lost - before.queue_dropped;
    assert!((10..=11).contains(&taken), "{before:?}");
    assert!((35..=65).contains(&before.lost), "{before:?}");
}

#[test]
fn loss_mode_names_parse_and_print() {
    for mode in [LossMode::OnAir, LossMode::BeforeLink] {
        assert_eq!(mode.to_string().parse::<LossMode>(), Ok(mode));
    }
    assert_eq!("on-air".parse::<LossMode>(), Ok(LossMode::OnAir));
    assert_eq!("before-link".parse::<LossMode>(), Ok(LossMode::BeforeLink));
    assert!("free".parse::<LossMode>().is_err());
    assert_eq!(Impairment::none().loss_mode, LossMode::OnAir);
}

/// Datagrams through a proxy whose client → server direction runs at
/// 20 000 B/s with 25 % loss in `mode`: the byte rate that reaches the
/// server (a plain socket) and the datagram numbers, in order.
fn proxy_saturate(mode: LossMode) -> (Vec<u32>, f64) {
    use mavftp::link::sim::UdpProxy;
    use std::net::UdpSocket;
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let up = Impairment::none()
        .with_rate(SATURATE_RATE)
        .with_loss(SATURATE_LOSS)
        .with_loss_mode(mode)
        .with_seed(21);
    let proxy = UdpProxy::start(
        "127.0.0.1:0".parse().expect("addr"),
        server.local_addr().expect("addr"),
        up,
        Impairment::none(),
    )
    .expect("proxy");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let start = Instant::now();
    for i in 0..SATURATE_FRAMES {
        client
            .send_to(&frame(i, SATURATE_LEN), proxy.listen_addr())
            .expect("send");
    }
    let mut ids = Vec::new();
    let mut bytes = 0usize;
    let mut last = start;
    let mut buf = [0u8; 512];
    while let Ok(n) = server.recv(&mut buf) {
        last = Instant::now();
        bytes += n;
        ids.push(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
    }
    let stats = proxy.up_stats();
    assert_eq!(stats.offered, SATURATE_FRAMES as u64, "{mode}: {stats:?}");
    assert_eq!(ids.len() as u64, stats.delivered, "{mode}: {stats:?}");
    (ids, bytes as f64 / (last - start).as_secs_f64())
}

#[test]
fn udp_proxy_loss_modes_measure_the_airtime_of_lost_datagrams() {
    let (on_air, on_air_rate) = proxy_saturate(LossMode::OnAir);
    let (before, before_rate) = proxy_saturate(LossMode::BeforeLink);
    assert_eq!(on_air, before, "same seed, same datagrams lost");
    assert_rate_near("proxy on-air", on_air_rate, on_air_ideal(&on_air));
    assert_rate_near("proxy before-link", before_rate, SATURATE_RATE as f64);
}
