//! Custom links and the in-process pair: framing, routing, heard table, close.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mavftp::link::sim::{Impairment, link_pair};
use mavftp::link::{DEFAULT_COMPONENT_ID, DEFAULT_SYSTEM_ID, Link};
use mavftp::protocol::{FtpPacket, Opcode};
use parking_lot::Mutex;

const WAIT: Duration = Duration::from_secs(3);

fn packet(seq: u16, data: &[u8]) -> FtpPacket {
    let mut p = FtpPacket::request(Opcode::ReadFile, seq);
    p.offset = 1234;
    p.session = 3;
    p.data = data.to_vec();
    p
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn pair_delivers_ftp_with_source_and_target_ids() {
    let (gcs, vehicle) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let sub = vehicle.subscribe(|_| true);
    gcs.send_ftp(1, 1, &packet(7, b"hello")).unwrap();
    let got = sub.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!((got.source_system, got.source_component), (245, 190));
    assert_eq!((got.target_system, got.target_component), (1, 1));
    assert_eq!(got.packet, packet(7, b"hello"));

    let back = gcs.subscribe(|f| f.target_component == 190);
    vehicle
        .send_ftp(245, 190, &FtpPacket::ack_for(&packet(7, b""), vec![9; 239]))
        .unwrap();
    let got = back.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!((got.source_system, got.source_component), (1, 1));
    assert_eq!(got.packet.opcode, Opcode::Ack);
    assert_eq!(got.packet.data, vec![9; 239]);
}

#[test]
fn subscriptions_only_see_frames_their_filter_accepts() {
    let (gcs, vehicle) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let even = vehicle.subscribe(|f| f.packet.seq % 2 == 0);
    let odd = vehicle.subscribe(|f| f.packet.seq % 2 == 1);
    let all = vehicle.subscribe(|_| true);
    for seq in 0..10 {
        gcs.send_ftp(1, 1, &packet(seq, &[seq as u8])).unwrap();
    }
    let drain =
        |rx: &crossbeam_channel::Receiver<mavftp::link::IncomingFtp>, n: usize| -> Vec<u16> {
            (0..n)
                .map(|_| rx.recv_timeout(WAIT).unwrap().packet.seq)
                .collect()
        };
    assert_eq!(drain(&even.receiver, 5), vec![0, 2, 4, 6, 8]);
    assert_eq!(drain(&odd.receiver, 5), vec![1, 3, 5, 7, 9]);
    assert_eq!(drain(&all.receiver, 10), (0..10).collect::<Vec<_>>());
    assert!(even.receiver.try_recv().is_err());
    // Dropping a subscription unregisters it; the others keep working.
    drop(even);
    gcs.send_ftp(1, 1, &packet(20, b"")).unwrap();
    assert_eq!(all.receiver.recv_timeout(WAIT).unwrap().packet.seq, 20);
}

#[test]
fn heartbeats_make_the_peer_heard() {
    let (gcs, vehicle) = link_pair((0, 0), (1, 1), Impairment::none(), Impairment::none());
    assert_eq!(gcs.own_system_id(), DEFAULT_SYSTEM_ID);
    assert_eq!(gcs.own_component_id(), DEFAULT_COMPONENT_ID);
    wait_until("heartbeats", || {
        gcs.has_heard(1, 1) && vehicle.has_heard(245, 190)
    });
    assert_eq!(gcs.first_heard_system(), Some(1));
    assert_eq!(vehicle.first_heard_system(), Some(245));
    assert!(!gcs.has_heard(1, 2));
}

#[test]
fn custom_link_frames_go_through_the_sink_and_feed() {
    let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = Arc::clone(&sent);
    let a = Link::open_custom(
        10,
        20,
        Box::new(move |frame| sink.lock().push(frame.to_vec())),
    )
    .unwrap();
    assert_eq!((a.own_system_id(), a.own_component_id()), (10, 20));
    // The immediate heartbeat.
    assert!(!sent.lock().is_empty());
    let b = Link::open_custom(30, 40, Box::new(|_| {})).unwrap();
    let sub = b.subscribe(|_| true);
    a.send_ftp(30, 40, &packet(1, b"x")).unwrap();
    let bytes: Vec<u8> = sent.lock().concat();
    // Feed one byte at a time: the frame must still come out.
    for byte in &bytes {
        b.feed(std::slice::from_ref(byte)).unwrap();
    }
    let got = sub.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!(got.packet, packet(1, b"x"));
    assert!(b.has_heard(10, 20));
    assert_eq!(b.byte_rate(), None);
}

#[test]
fn close_runs_hooks_once_disconnects_and_rejects_sends() {
    let (gcs, _vehicle) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let sub = gcs.subscribe(|_| true);
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let weak = gcs.downgrade();
    gcs.on_close(Box::new(move || {
        r.fetch_add(1, Ordering::SeqCst);
        // A hook may still use the link (send a final packet, close again).
        if let Some(link) = weak.upgrade() {
            assert!(link.send_ftp(1, 1, &packet(1, b"")).is_ok());
            link.close();
        }
    }));
    let removed = Arc::new(AtomicUsize::new(0));
    let r2 = Arc::clone(&removed);
    let id = gcs.on_close(Box::new(move || {
        r2.fetch_add(1, Ordering::SeqCst);
    }));
    gcs.remove_close_hook(id);
    let started = Instant::now();
    gcs.close();
    gcs.close();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "close took {:?}",
        started.elapsed()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(removed.load(Ordering::SeqCst), 0);
    assert!(gcs.is_closed());
    assert!(matches!(
        sub.receiver.recv_timeout(WAIT),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    ));
    assert!(gcs.send_ftp(1, 1, &packet(2, b"")).is_err());
    // Hooks registered after close never run; subscriptions come back disconnected.
    assert_eq!(gcs.on_close(Box::new(|| panic!("must not run"))), 0);
    assert!(gcs.subscribe(|_| true).receiver.recv_timeout(WAIT).is_err());
}

#[test]
fn dropping_the_last_handle_closes_the_link() {
    let (gcs, vehicle) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    let sub = vehicle.subscribe(|_| true);
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    vehicle.on_close(Box::new(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let clone = vehicle.clone();
    drop(vehicle);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    drop(clone);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(sub.receiver.recv_timeout(WAIT).is_err());
    // The other end keeps working (its frames go nowhere).
    assert!(gcs.send_ftp(1, 1, &packet(1, b"")).is_ok());
}

#[test]
fn link_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Link>();
}

/// A packet whose size field is 240–255 reaches only request subscriptions
/// (a server answers it with NAK InvalidDataSize); clients never see it.
#[test]
fn invalid_size_frames_reach_only_request_subscriptions() {
    let link = Link::open_custom(1, 1, Box::new(|_: &[u8]| {})).unwrap();
    let plain = link.subscribe(|_| true);
    let requests = link.subscribe_requests(16, |_| true);
    let mut wire = packet(9, b"/x").encode();
    wire[4] = 250;
    let mut payload = vec![0u8, 1, 1];
    payload.extend_from_slice(&wire);
    let mut frame = vec![0xFD, payload.len() as u8, 0, 0, 0, 245, 190, 110, 0, 0];
    frame.extend_from_slice(&payload);
    let crc = mavlink::calculate_crc(&frame[1..], 84);
    frame.extend_from_slice(&crc.to_le_bytes());
    link.feed(&frame).unwrap();
    let got = requests.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!(got.invalid_size, Some(250));
    assert_eq!(got.packet.seq, 9);
    assert!(got.packet.data.is_empty());
    assert_eq!(got.route, mavftp::link::Route::LOCAL);
    assert!(plain.receiver.try_recv().is_err());
    // A bounded subscription drops what does not fit instead of growing.
    let small = link.subscribe_requests(2, |_| true);
    for seq in 0..5 {
        let mut p = packet(seq, b"y").encode().to_vec();
        p.truncate(20);
        let mut payload = vec![0u8, 1, 1];
        payload.extend_from_slice(&p);
        let mut frame = vec![0xFD, payload.len() as u8, 0, 0, 0, 245, 190, 110, 0, 0];
        frame.extend_from_slice(&payload);
        let crc = mavlink::calculate_crc(&frame[1..], 84);
        frame.extend_from_slice(&crc.to_le_bytes());
        link.feed(&frame).unwrap();
    }
    assert_eq!(small.receiver.len(), 2);
    assert_eq!(plain.receiver.len(), 5);
}

/// A custom link's send callback is never running or called once close has
/// returned (the C API promises that `send` is not called after
/// `mavftp_link_free` returns, so the application may free its context): a
/// close that comes while a send is inside the callback waits for it.
#[test]
fn close_waits_for_a_send_in_the_callback_and_no_send_follows() {
    let entered = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicUsize::new(0));
    let (e, r) = (Arc::clone(&entered), Arc::clone(&returned));
    let link = Link::open_custom(
        245,
        190,
        Box::new(move |_frame: &[u8]| {
            e.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            r.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .expect("custom link");
    let sender = link.clone();
    let sending = std::thread::spawn(move || {
        // NoSystem or sent: either way the frame went through the callback
        // or was refused before it.
        let _ = sender.send_ftp(1, 1, &packet(1, b"x"));
    });
    wait_until("a send inside the callback", || {
        entered.load(Ordering::SeqCst) > returned.load(Ordering::SeqCst)
    });
    link.close();
    let (calls, done) = (
        entered.load(Ordering::SeqCst),
        returned.load(Ordering::SeqCst),
    );
    assert_eq!(
        calls, done,
        "close returned while the send callback was running"
    );
    sending.join().expect("sender");
    // Heartbeats and sends after close never reach the callback.
    assert!(link.send_ftp(1, 1, &packet(2, b"y")).is_err());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(entered.load(Ordering::SeqCst), calls, "a send after close");
}
