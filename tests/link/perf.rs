//! Throughput of the link layer (run with `--ignored --nocapture`, ideally `--release`).

use std::time::{Duration, Instant};

use mavftp::link::Link;
use mavftp::link::sim::{Impairment, link_pair};
use mavftp::protocol::{FtpPacket, Opcode};

fn pump(name: &str, tx: &Link, rx: &Link, frames: u32) -> f64 {
    let sub = rx.subscribe(|_| true);
    let mut p = FtpPacket::request(Opcode::ReadFile, 0);
    p.data = vec![0x5A; 239];
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut n = 0u32;
        while sub.receiver.recv_timeout(Duration::from_secs(1)).is_ok() {
            n += 1;
            if n == frames {
                break;
            }
        }
        n
    });
    for seq in 0..frames {
        p.seq = seq as u16;
        tx.send_ftp(1, 1, &p).unwrap();
        // Keep UDP socket buffers from overflowing.
        if seq % 256 == 255 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let got = receiver.join().unwrap();
    let rate = got as f64 / start.elapsed().as_secs_f64();
    eprintln!("{name}: {got}/{frames} frames, {rate:.0} frames/s");
    rate
}

#[test]
#[ignore]
fn throughput() {
    let (a, b) = link_pair((245, 190), (1, 1), Impairment::none(), Impairment::none());
    pump("sim pair", &a, &b, 100_000);
    let server = Link::open("udpin://127.0.0.1:0", 1, 1).unwrap();
    let client = Link::open(
        &format!("udpout://{}", server.local_addr().unwrap()),
        245,
        190,
    )
    .unwrap();
    pump("udp", &client, &server, 50_000);
    let server = Link::open("tcpin://127.0.0.1:0", 1, 1).unwrap();
    let client = Link::open(
        &format!("tcpout://{}", server.local_addr().unwrap()),
        245,
        190,
    )
    .unwrap();
    pump("tcp", &client, &server, 50_000);
}
