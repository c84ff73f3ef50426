//! UDP, TCP and serial links on loopback / a pseudo-terminal.

use std::time::{Duration, Instant};

use mavftp::FtpResult;
use mavftp::link::Link;
use mavftp::protocol::{FtpPacket, Opcode};

const WAIT: Duration = Duration::from_secs(3);

fn packet(seq: u16, data: &[u8]) -> FtpPacket {
    let mut p = FtpPacket::request(Opcode::WriteFile, seq);
    p.offset = 77;
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

/// Both ends hear each other's heartbeats and FTP frames flow both ways.
fn exchange(server: &Link, client: &Link) {
    let at_server = server.subscribe(|_| true);
    let at_client = client.subscribe(|_| true);
    // The client talks first (udpin learns its peer from it).
    client.send_ftp(1, 1, &packet(1, b"ping")).unwrap();
    let got = at_server.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!((got.source_system, got.source_component), (245, 190));
    assert_eq!((got.target_system, got.target_component), (1, 1));
    assert_eq!(got.packet, packet(1, b"ping"));

    server
        .send_ftp(245, 190, &FtpPacket::ack_for(&got.packet, b"pong".to_vec()))
        .unwrap();
    let got = at_client.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!((got.source_system, got.source_component), (1, 1));
    assert_eq!(got.packet.opcode, Opcode::Ack);
    assert_eq!(got.packet.data, b"pong");

    // Many frames in a row, in order.
    for seq in 10..210u16 {
        client
            .send_ftp(1, 1, &packet(seq, &[seq as u8; 200]))
            .unwrap();
    }
    for seq in 10..210u16 {
        let got = at_server.receiver.recv_timeout(WAIT).unwrap();
        assert_eq!(got.packet.seq, seq);
        assert_eq!(got.packet.data, vec![seq as u8; 200]);
    }
    wait_until("heartbeats both ways", || {
        server.has_heard(245, 190) && client.has_heard(1, 1)
    });
    assert_eq!(server.first_heard_system(), Some(245));
    assert_eq!(client.first_heard_system(), Some(1));
}

#[test]
fn udpin_and_udpout_exchange_frames_and_heartbeats() {
    let server = Link::open("udpin://127.0.0.1:0", 1, 1).unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Link::open(&format!("udpout://127.0.0.1:{port}"), 0, 0).unwrap();
    exchange(&server, &client);
    let started = Instant::now();
    client.close();
    server.close();
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "close took {:?}",
        started.elapsed()
    );
}

#[test]
fn udpin_send_ftp_goes_where_the_target_system_was_heard_and_to_every_peer_otherwise() {
    let server = Link::open("udpin:127.0.0.1:0", 1, 1).unwrap();
    let port = server.local_addr().unwrap().port();
    let c1 = Link::open(&format!("udpout:127.0.0.1:{port}"), 245, 190).unwrap();
    let c2 = Link::open(&format!("udpout:127.0.0.1:{port}"), 246, 190).unwrap();
    let s1 = c1.subscribe(|_| true);
    let s2 = c2.subscribe(|_| true);
    wait_until("both clients heard", || {
        server.has_heard(245, 190) && server.has_heard(246, 190)
    });
    server.send_ftp(246, 190, &packet(4, b"two")).unwrap();
    assert_eq!(s2.receiver.recv_timeout(WAIT).unwrap().packet.seq, 4);
    assert!(
        s1.receiver
            .recv_timeout(Duration::from_millis(300))
            .is_err()
    );
    // Never heard (or broadcast 0): every peer.
    server.send_ftp(99, 1, &packet(5, b"all")).unwrap();
    assert_eq!(s1.receiver.recv_timeout(WAIT).unwrap().packet.seq, 5);
    assert_eq!(s2.receiver.recv_timeout(WAIT).unwrap().packet.seq, 5);
    server.send_ftp(0, 0, &packet(6, b"all")).unwrap();
    assert_eq!(s1.receiver.recv_timeout(WAIT).unwrap().packet.seq, 6);
    assert_eq!(s2.receiver.recv_timeout(WAIT).unwrap().packet.seq, 6);
}

#[test]
fn tcpin_and_tcpout_exchange_frames_and_heartbeats() {
    let server = Link::open("tcpin://127.0.0.1:0", 1, 1).unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Link::open(&format!("tcpout://127.0.0.1:{port}"), 0, 0).unwrap();
    // tcpin can only send once the client is accepted.
    wait_until("client heard", || server.has_heard(245, 190));
    exchange(&server, &client);
    let started = Instant::now();
    server.close();
    client.close();
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "close took {:?}",
        started.elapsed()
    );
}

#[test]
fn tcpout_to_a_closed_port_is_no_system() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Link::open(&format!("tcpout://127.0.0.1:{port}"), 0, 0)
        .err()
        .unwrap();
    assert_eq!(err.result, FtpResult::NoSystem, "{err}");
}

#[test]
fn binding_a_busy_udp_port_is_a_file_io_error() {
    let first = Link::open("udpin://127.0.0.1:0", 1, 1).unwrap();
    let port = first.local_addr().unwrap().port();
    let err = Link::open(&format!("udpin://127.0.0.1:{port}"), 1, 1)
        .err()
        .unwrap();
    assert_eq!(err.result, FtpResult::FileIoError, "{err}");
}

#[test]
fn bad_urls_are_invalid_parameters() {
    for url in ["", "udpin", "foo://1.2.3.4:5", "udpout://:5", "serial://"] {
        let err = Link::open(url, 0, 0).err().unwrap();
        assert_eq!(err.result, FtpResult::InvalidParameter, "{url}: {err}");
    }
    let err = Link::open("serial:///nonexistent/tty:57600", 0, 0)
        .err()
        .unwrap();
    assert_eq!(err.result, FtpResult::FileIoError, "{err}");
    let err = Link::open("serial:///dev/null:12345", 0, 0).err().unwrap();
    assert_eq!(err.result, FtpResult::InvalidParameter, "{err}");
}

/// A pseudo-terminal pair: (master fd, slave path).
fn open_pty() -> (libc::c_int, String) {
    // SAFETY: plain libc calls with valid arguments; results checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        // Raw mode on the master too, so nothing is translated.
        let mut tio: libc::termios = std::mem::zeroed();
        libc::tcgetattr(master, &mut tio);
        libc::cfmakeraw(&mut tio);
        libc::tcsetattr(master, libc::TCSANOW, &tio);
        (master, path)
    }
}

#[test]
fn serial_link_over_a_pty_talks_mavlink() {
    let (master, path) = open_pty();
    let link = Link::open(&format!("serial://{path}:115200"), 1, 1).unwrap();
    assert_eq!(link.byte_rate(), Some(11_520));
    // The other end of the wire: a custom link whose bytes go to/from the pty master.
    let peer = Link::open_custom(
        245,
        190,
        Box::new(move |frame| {
            // SAFETY: master stays open for the test; frame is a valid slice.
            unsafe {
                libc::write(master, frame.as_ptr().cast(), frame.len());
            }
        }),
    )
    .unwrap();
    let feeder_peer = peer.downgrade();
    let feeder = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline && feeder_peer.upgrade().is_some() {
            let mut pfd = libc::pollfd {
                fd: master,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: valid pollfd and buffer.
            let ready = unsafe { libc::poll(&mut pfd, 1, 50) };
            if ready > 0 {
                let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                match feeder_peer.upgrade() {
                    Some(p) => {
                        let _ = p.feed(&buf[..n as usize]);
                    }
                    None => break,
                }
            }
        }
    });
    let at_link = link.subscribe(|_| true);
    let at_peer = peer.subscribe(|_| true);
    peer.send_ftp(1, 1, &packet(3, b"over serial")).unwrap();
    let got = at_link.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!(got.packet, packet(3, b"over serial"));
    link.send_ftp(245, 190, &packet(4, b"back")).unwrap();
    let got = at_peer.receiver.recv_timeout(WAIT).unwrap();
    assert_eq!(got.packet, packet(4, b"back"));
    assert!(peer.has_heard(1, 1));
    let started = Instant::now();
    link.close();
    assert!(started.elapsed() < Duration::from_millis(800));
    drop(peer);
    let _ = feeder.join();
    // SAFETY: master is ours.
    unsafe {
        libc::close(master);
    }
}

#[test]
fn tcpout_reconnects_after_the_server_restarts() {
    let server = Link::open("tcpin://127.0.0.1:0", 1, 1).unwrap();
    let addr = server.local_addr().unwrap();
    let client = Link::open(&format!("tcpout://{addr}"), 245, 190).unwrap();
    wait_until("first connection", || server.has_heard(245, 190));
    server.close();
    drop(server);
    let server = Link::open(&format!("tcpin://{addr}"), 1, 1).unwrap();
    let at_server = server.subscribe(|_| true);
    // The client's heartbeat shows it reconnected.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.has_heard(245, 190) {
        assert!(Instant::now() < deadline, "client did not reconnect");
        std::thread::sleep(Duration::from_millis(20));
    }
    client.send_ftp(1, 1, &packet(8, b"again")).unwrap();
    assert_eq!(
        at_server.receiver.recv_timeout(WAIT).unwrap().packet,
        packet(8, b"again")
    );
    let started = Instant::now();
    client.close();
    assert!(started.elapsed() < Duration::from_millis(800));
}

/// Issue 9 item 19: a udpin link that had heard nobody dropped what it was
/// asked to send and reported success. It now says NoSystem, and
/// `wait_for_peer` waits for a peer — learned only from a valid frame.
#[test]
fn udpin_with_no_peer_refuses_to_send_and_waits_for_one() {
    let link = Link::open("udpin://127.0.0.1:0", 245, 190).unwrap();
    let addr = link.local_addr().unwrap();
    let err = link.send_ftp(1, 1, &packet(1, b"x")).unwrap_err();
    assert_eq!(err.result, FtpResult::NoSystem, "{err}");
    assert!(!link.wait_for_peer(Instant::now() + Duration::from_millis(100)));
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.send_to(&[0xFD, 1, 2, 3], addr).unwrap();
    assert!(!link.wait_for_peer(Instant::now() + Duration::from_millis(200)));
    assert!(link.send_ftp(1, 1, &packet(1, b"x")).is_err());
    let started = Instant::now();
    let vehicle = Link::open(&format!("udpout://127.0.0.1:{}", addr.port()), 1, 1).unwrap();
    let at_vehicle = vehicle.subscribe(|_| true);
    assert!(link.wait_for_peer(Instant::now() + WAIT));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    link.send_ftp(1, 1, &packet(2, b"y")).unwrap();
    assert_eq!(
        at_vehicle.receiver.recv_timeout(WAIT).unwrap().packet.seq,
        2
    );
    // Closing wakes a waiter at once.
    let other = Link::open("udpin://127.0.0.1:0", 245, 190).unwrap();
    let waiter = {
        let other = other.clone();
        std::thread::spawn(move || other.wait_for_peer(Instant::now() + Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    other.close();
    assert!(!waiter.join().unwrap());
    assert!(t.elapsed() < Duration::from_secs(2));
}
