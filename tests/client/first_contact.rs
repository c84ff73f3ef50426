//! Issue 9 item 19: a client on a `udpin` link that has not heard its
//! vehicle yet sent its first request nowhere (and the link reported
//! success): every CLI run against PX4 paid a 500 ms resend. The client now
//! waits for a peer, within its timeout × retries, and only then sends.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::protocol::Opcode;
use mavftp::server::Server;

/// A HEARTBEAT frame from (sys, comp).
fn heartbeat(sys: u8, comp: u8) -> Vec<u8> {
    let payload = [0u8, 0, 0, 0, 2, 0, 0, 4, 3];
    let mut f = vec![0xFD, payload.len() as u8, 0, 0, 0, sys, comp, 0, 0, 0];
    f.extend_from_slice(&payload);
    let crc = mavlink::calculate_crc(&f[1..], 50);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn a_client_on_udpin_sends_its_first_request_once_the_vehicle_is_heard() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"hello").unwrap();
    let gcs = Link::open("udpin://127.0.0.1:0", 245, 190).unwrap();
    let gcs_addr = gcs.local_addr().unwrap();
    let client = Client::new(&gcs, 1, 1).unwrap();
    let listing = std::thread::spawn(move || client.list_directory("/"));
    std::thread::sleep(Duration::from_millis(100));

    // The vehicle: a server on a custom link over its own UDP socket, silent
    // until everything is set up (so that nothing it receives is missed).
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let live = Arc::new(AtomicBool::new(false));
    let (out, out_live) = (Arc::clone(&socket), Arc::clone(&live));
    let vehicle = Link::open_custom(
        1,
        1,
        Box::new(move |bytes: &[u8]| {
            if out_live.load(Ordering::SeqCst) {
                let _ = out.send_to(bytes, gcs_addr);
            }
        }),
    )
    .unwrap();
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = Arc::clone(&arrivals);
    let _watch = vehicle.subscribe(move |m| {
        if matches!(
            m.packet.opcode,
            Opcode::ListDirectory | Opcode::ListDirectoryWithTime
        ) {
            seen.lock().unwrap().push(Instant::now());
        }
        false
    });
    let _server = Server::new(&vehicle, root.path()).unwrap();
    let (inp, feed) = (Arc::clone(&socket), vehicle.downgrade());
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = Arc::clone(&stop);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !stop_reader.load(Ordering::SeqCst) {
            if let (Ok((n, _)), Some(l)) = (inp.recv_from(&mut buf), feed.upgrade()) {
                let _ = l.feed(&buf[..n]);
            }
        }
    });
    live.store(true, Ordering::SeqCst);
    let heard_at = Instant::now();
    socket.send_to(&heartbeat(1, 1), gcs_addr).unwrap();

    let listing = listing.join().unwrap().expect("listing");
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert_eq!(listing.files(), vec!["a.txt"]);
    let arrivals = arrivals.lock().unwrap().clone();
    assert!(!arrivals.is_empty());
    let first = arrivals[0].saturating_duration_since(heard_at);
    assert!(
        first < Duration::from_millis(250),
        "the first request reached the vehicle {first:?} after it was heard (a resend: the first went nowhere)"
    );
}
