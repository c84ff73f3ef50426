//! Burst flow control on links of unknown rate (issue 9 item 12): bounded
//! rounds, and a per-peer rate that halves when the client's next request
//! shows that it lost data and grows when it did not.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;
use mavftp::Server;
use mavftp::protocol::{FtpPacket, Opcode};

/// Rounds on a link of unknown rate are at most this many packets, paced at
/// a per-peer rate that starts here (README, "How transfers approach the
/// link's limit"; docs/PROTOCOL_NOTES.md §6).
const ADAPTIVE_ROUND_PACKETS: u32 = 128;
const ADAPTIVE_INITIAL_RATE: u32 = 3_000_000;

/// Send a burst request and read its round to the end; returns the packets.
fn round(r: &mut Requester, session: u8, offset: u32) -> Vec<FtpPacket> {
    let p = r.req(Opcode::BurstReadFile, session, offset, &[0; 239]);
    r.send_raw(&p);
    let mut got = Vec::new();
    loop {
        let reply = r.recv(Duration::from_secs(5)).expect("round stalled");
        if reply.req_opcode != Opcode::BurstReadFile {
            continue;
        }
        let end = reply.burst_complete || reply.opcode == Opcode::Nak;
        got.push(reply);
        if end {
            return got;
        }
    }
}

fn rate_of(server: &Server, sys: u8) -> u32 {
    server
        .burst_rates()
        .into_iter()
        .find(|&(s, c, _)| (s, c) == (sys, 190))
        .map(|(_, _, rate)| rate)
        .expect("peer known")
}

#[test]
fn the_burst_rate_backs_off_when_sent_bytes_are_asked_again_and_grows_after_clean_rounds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(2_000_000, 5);
    fs::write(tmp.path().join("f"), &data).unwrap();
    let hub = Hub::new();
    let server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut r = hub.requester(70, 190);
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"f");
    let s = open.session;
    let full = ADAPTIVE_ROUND_PACKETS * 239;
    assert_eq!(rate_of(&server, 70), ADAPTIVE_INITIAL_RATE);

    // A round is capped: full packets, bc=1 on the last.
    let r1 = round(&mut r, s, 0);
    assert_eq!(r1.len() as u32, ADAPTIVE_ROUND_PACKETS);
    assert!(r1.iter().all(|p| p.data.len() == 239));
    assert_eq!(rate_of(&server, 70), ADAPTIVE_INITIAL_RATE);
    // The next round exactly where it ended: nothing was lost, grow.
    round(&mut r, s, full);
    let grown = ADAPTIVE_INITIAL_RATE / 2 * 3;
    assert_eq!(rate_of(&server, 70), grown);
    // A burst from inside the last round: data was lost, halve.
    round(&mut r, s, full + 1000);
    assert_eq!(rate_of(&server, 70), grown / 2);
    // A ReadFile of bytes that round sent: lost again, halve once per round.
    for _ in 0..3 {
        assert!(is_ack(&r.call(Opcode::ReadFile, s, full + 5000, &[0; 239])));
    }
    assert_eq!(rate_of(&server, 70), grown / 4);
    // That round saw loss: continuing where it ended does not grow...
    round(&mut r, s, 2 * full + 1000);
    assert_eq!(rate_of(&server, 70), grown / 4);
    // ...but after a clean round it does.
    round(&mut r, s, 3 * full + 1000);
    assert_eq!(rate_of(&server, 70), grown / 4 / 2 * 3);
    // Another peer is not affected.
    let mut other = hub.requester(71, 190);
    let o = other.call(Opcode::OpenFileRO, 0, 0, b"f");
    round(&mut other, o.session, 0);
    assert_eq!(rate_of(&server, 71), ADAPTIVE_INITIAL_RATE);
}

/// After backing off, the rate really paces: a round at a low rate lasts
/// about a second (the airtime cap) and ends early with bc=1.
#[test]
fn a_backed_off_peer_is_paced_at_its_lower_rate() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), pattern(1_000_000, 6)).unwrap();
    let hub = Hub::new();
    let server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut r = hub.requester(72, 190);
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"f");
    // Ask again from 0 after every first packet: each is a loss signal.
    for _ in 0..10 {
        let p = r.req(Opcode::BurstReadFile, open.session, 0, &[0; 239]);
        r.send_raw(&p);
        // Wait for the first packet of this round (not a late one of the last).
        loop {
            let reply = r.recv(Duration::from_secs(5)).expect("round started");
            if reply.seq == p.seq.wrapping_add(1) && reply.offset == 0 {
                break;
            }
        }
    }
    r.drain();
    let rate = rate_of(&server, 72);
    assert!(rate <= ADAPTIVE_INITIAL_RATE / 256, "rate {rate}");
    let t = Instant::now();
    let packets = round(&mut r, open.session, 0);
    let took = t.elapsed();
    assert!(packets.last().unwrap().burst_complete);
    assert!(
        (packets.len() as u32) < ADAPTIVE_ROUND_PACKETS,
        "{} packets in a round at {rate} B/s",
        packets.len()
    );
    assert!(took >= Duration::from_millis(800), "round took {took:?}");
}
