//! The link simulator: impairments, determinism, rate limiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mavftp::link::sim::{ImpairedPipe, Impairment, QueueLimit, link_pair};
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
