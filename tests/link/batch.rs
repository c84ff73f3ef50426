//! UDP links read every datagram waiting with one system call (and send
//! what handling them produces together): what arrives is still routed one
//! datagram at a time, in arrival order, each with its own source.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mavftp::link::{Link, Route};
use mavftp::protocol::{FtpPacket, Opcode};

const WAIT: Duration = Duration::from_secs(3);
const FILE_TRANSFER_PROTOCOL: u8 = 110;

/// FILE_TRANSFER_PROTOCOL frames from (`sys`, 1) to (1, 1), one per seq, as
/// our own writer builds them (taken from a custom link's send callback).
fn frames(sys: u8, seqs: impl Iterator<Item = u16>) -> Vec<Vec<u8>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&out);
    let link = Link::open_custom(
        sys,
        1,
        Box::new(move |f: &[u8]| sink.lock().unwrap().push(f.to_vec())),
    )
    .unwrap();
    for seq in seqs {
        let mut p = FtpPacket::request(Opcode::ReadFile, seq);
        p.data = vec![seq as u8; 100];
        link.send_ftp(1, 1, &p).unwrap();
    }
    link.close();
    let all = out.lock().unwrap().clone();
    // Without the heartbeat (MAVLink 2: message id in bytes 7–9).
    all.into_iter()
        .filter(|f| f[7] == FILE_TRANSFER_PROTOCOL && f[8] == 0 && f[9] == 0)
        .collect()
}

#[test]
fn udpin_routes_queued_datagrams_in_order_each_with_its_sources_route() {
    let server = Link::open("udpin://127.0.0.1:0", 1, 1).unwrap();
    let to = server.local_addr().unwrap();
    let sub = server.subscribe(|_| true);
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let fa = frames(10, 0..200);
    let fb = frames(11, 1000..1200);
    // Sent back to back from one thread: the link finds many waiting at once.
    let mut want = Vec::new();
    for i in 0..200 {
        match i % 50 {
            // Two frames in one datagram (longer than a MAVLink frame).
            7 => {
                let mut both = fa[i].clone();
                both.extend_from_slice(&fb[i]);
                a.send_to(&both, to).unwrap();
                // Both come from a's route, whatever their system id says.
                want.push((10, i as u16, 'a'));
                want.push((11, 1000 + i as u16, 'a'));
                continue;
            }
            // A frame cut short, then an empty datagram: nothing, and the
            // next datagrams are whole again.
            21 => {
                a.send_to(&fa[i][..fa[i].len() / 2], to).unwrap();
                b.send_to(&[], to).unwrap();
                b.send_to(&fb[i], to).unwrap();
                want.push((11, 1000 + i as u16, 'b'));
                continue;
            }
            _ => {}
        }
        a.send_to(&fa[i], to).unwrap();
        b.send_to(&fb[i], to).unwrap();
        want.push((10, i as u16, 'a'));
        want.push((11, 1000 + i as u16, 'b'));
    }
    let mut got = Vec::new();
    let mut routes: Vec<(char, Route)> = Vec::new();
    for _ in 0..want.len() {
        let m = sub
            .receiver
            .recv_timeout(WAIT)
            .expect("every frame arrives");
        assert_eq!(m.packet.data, vec![m.packet.seq as u8; 100]);
        let who = match routes.iter().find(|(_, r)| *r == m.route) {
            Some((who, _)) => *who,
            None => {
                // The first frame of each socket tells its route.
                let who = if routes.is_empty() { 'a' } else { 'b' };
                routes.push((who, m.route));
                who
            }
        };
        got.push((m.source_system, m.packet.seq, who));
    }
    assert_eq!(got, want);
    assert_eq!(routes.len(), 2);
    assert!(
        sub.receiver
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "nothing more"
    );
    // Replies by route reach the socket the requests came from.
    let route_b = routes.iter().find(|(w, _)| *w == 'b').unwrap().1;
    let reply = FtpPacket::ack_for(&FtpPacket::request(Opcode::ReadFile, 5), b"to b".to_vec());
    server.send_ftp_via(route_b, 11, 1, &reply).unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 300];
    loop {
        let n = b.recv(&mut buf).unwrap();
        // Skip heartbeats (udpin sends them to every peer).
        if buf[7] == FILE_TRANSFER_PROTOCOL {
            assert!(buf[..n].windows(4).any(|w| w == b"to b"));
            break;
        }
    }
    server.close();
}
