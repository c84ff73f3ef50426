//! BurstReadFile streaming: one job per session, sent in slices so the server
//! thread interleaves bursts with request handling (no peer starves).
//!
//! A burst sends ACK packets with sequence numbers request+1, +2, ... and
//! offsets advancing by the chunk size (the request's size field; 0 means
//! 239). It ends with a short packet carrying burst_complete=1 followed
//! by NAK EOF (req_opcode BurstReadFile, offset = file size), so that clients
//! that wait for either ending all finish. When the remaining length is an
//! exact multiple of the chunk (including an empty file), the last data packet
//! is full with burst_complete=0 and NAK EOF follows directly, as ArduPilot
//! and PX4 do: a zero-length bc=1 packet would make pymavlink re-request a
//! burst at the end and then discard the EOF as stale (observed with
//! pymavlink 2.4.50: an endless loop). A burst longer than
//! [`MAX_BURST_PACKETS`], or than [`MAX_BURST_AIRTIME`] of paced frames on a
//! link of known rate sent since the peer's last request, ends with
//! burst_complete=1 at that point (no EOF): the client re-requests from
//! there. The airtime cap is for pymavlink, which abandons a download
//! (RemoteReplyTimeout) when it has *sent* nothing for its idle time (3.7 s
//! by default), however much burst data arrives: on a 5760 B/s radio one
//! uncapped burst lasts minutes. A client that keeps sending (gap-fill
//! reads on a lossy link) is not idle, so its burst goes on.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode};

use super::jail::errno_of;
use super::sessions::Peer;

/// Packets in one burst before it ends with burst_complete=1.
pub const MAX_BURST_PACKETS: u32 = 2000;
/// Paced airtime without a request from the peer after which a burst ends
/// with burst_complete=1, so that the client sends a request (the next
/// burst) at least this often.
/// pymavlink gives up after its idle time without sending (≥ 1 s, 3.7 s by
/// default); one more round trip per second costs a few % of a slow link.
pub const MAX_BURST_AIRTIME: Duration = Duration::from_secs(1);
/// Bytes one full FTP frame takes on the wire (MAVLink 2 header + payload + CRC).
pub const FRAME_WIRE_BYTES: u32 = 12 + 254;
/// Wire bytes of an FTP frame besides its data: MAVLink 2 header and CRC
/// (12), target network/system/component (3), FTP header (12). MAVLink 2
/// trims trailing zeros, so a frame never takes more.
const FRAME_OVERHEAD_BYTES: u32 = 12 + 3 + 12;
/// Bursts leave this much of a known link rate unused (1 %), so a rate that
/// is slightly off (a serial baud rate's framing) fills its buffer only
/// slowly; the buffer drains at the end of every burst anyway (the client
/// asks for the next one only after the last packet went through), which
/// [`MAX_BURST_AIRTIME`] keeps short while the client is silent.
const PACING_HEADROOM: f64 = 1.01;

/// One running burst.
#[derive(Debug, Clone)]
pub struct BurstJob {
    /// Requesting peer.
    pub peer: Peer,
    /// Session read from.
    pub session: u8,
    /// The BurstReadFile request that started the burst.
    pub request: FtpPacket,
    offset: u32,
    chunk: u32,
    next_seq: u16,
    sent: u32,
    /// Paced airtime of the data packets sent since the burst began or its
    /// peer last sent a request (zero when unpaced).
    airtime: Duration,
    byte_rate: Option<u32>,
    finished: bool,
    /// When the next packet may be sent (pacing).
    pub next_due: Instant,
}

impl BurstJob {
    /// A job for a BurstReadFile request on an existing session.
    pub fn new(peer: Peer, request: &FtpPacket) -> BurstJob {
        let chunk = match request.data.len() {
            0 => MAX_DATA as u32,
            n => n as u32,
        };
        BurstJob {
            peer,
            session: request.session,
            request: request.clone(),
            offset: request.offset,
            chunk,
            next_seq: request.seq.wrapping_add(1),
            sent: 0,
            airtime: Duration::ZERO,
            byte_rate: None,
            finished: false,
            next_due: Instant::now(),
        }
    }

    /// The link rate the burst is paced at (None = unpaced); with a rate, the
    /// burst ends after [`MAX_BURST_AIRTIME`] of frames.
    pub fn set_byte_rate(&mut self, byte_rate: Option<u32>) {
        self.byte_rate = byte_rate.filter(|&r| r > 0);
    }

    /// The peer sent a request: it is not idle, so the airtime cap starts
    /// over.
    pub fn peer_spoke(&mut self) {
        self.airtime = Duration::ZERO;
    }

    /// Whether the burst has sent its last packet.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn packet(&mut self, opcode: Opcode, offset: u32, data: Vec<u8>, bc: bool) -> FtpPacket {
        let p = FtpPacket {
            seq: self.next_seq,
            session: self.session,
            opcode,
            req_opcode: Opcode::BurstReadFile,
            burst_complete: bc,
            offset,
            data,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        p
    }

    /// Produce up to `max` further packets, reading from `file`.
    pub fn next_packets(&mut self, file: &File, max: usize) -> Vec<FtpPacket> {
        let mut out = Vec::new();
        while !self.finished && out.len() < max {
            let size = match file.metadata() {
                Ok(m) => m.len().min(u32::MAX as u64) as u32,
                Err(e) => {
                    let nak = self.nak(NakCode::FailErrno, errno_of(&e) as u8);
                    out.push(nak);
                    self.finished = true;
                    break;
                }
            };
            if self.offset >= size {
                let mut nak = self.nak(NakCode::Eof, 0);
                nak.offset = size;
                out.push(nak);
                self.finished = true;
                break;
            }
            let want = self.chunk.min(size - self.offset) as usize;
            let mut buf = vec![0u8; want];
            let mut got = 0usize;
            while got < want {
                match file.read_at(&mut buf[got..], self.offset as u64 + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let nak = self.nak(NakCode::FailErrno, errno_of(&e) as u8);
                        out.push(nak);
                        self.finished = true;
                        return out;
                    }
                }
            }
            buf.truncate(got);
            let short = (got as u32) < self.chunk;
            self.sent += 1;
            self.airtime += Self::wire_time(got, self.byte_rate);
            let cap = self.sent >= MAX_BURST_PACKETS
                || (self.byte_rate.is_some() && self.airtime >= MAX_BURST_AIRTIME);
            let offset = self.offset;
            let pkt = self.packet(Opcode::Ack, offset, buf, short || cap);
            out.push(pkt);
            self.offset += got as u32;
            if short {
                let mut nak = self.nak(NakCode::Eof, 0);
                nak.offset = self.offset;
                out.push(nak);
                self.finished = true;
            } else if cap {
                self.finished = true;
            }
        }
        out
    }

    fn nak(&mut self, code: NakCode, errno: u8) -> FtpPacket {
        let mut p = FtpPacket::nak_for(&self.request, code, errno);
        p.seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        p
    }

    /// Pacing interval per full packet for a link of `byte_rate` bytes/s (with [`PACING_HEADROOM`]).
    pub fn interval(byte_rate: Option<u32>) -> Duration {
        Self::frame_time(FRAME_WIRE_BYTES, byte_rate)
    }

    /// Pacing interval of a packet carrying `data_len` bytes (its frame is
    /// shorter than a full one: pymavlink asks for 80-byte chunks).
    pub fn wire_time(data_len: usize, byte_rate: Option<u32>) -> Duration {
        let bytes = (FRAME_OVERHEAD_BYTES as usize + data_len).min(FRAME_WIRE_BYTES as usize);
        Self::frame_time(bytes as u32, byte_rate)
    }

    fn frame_time(bytes: u32, byte_rate: Option<u32>) -> Duration {
        match byte_rate {
            Some(rate) if rate > 0 => {
                Duration::from_secs_f64(bytes as f64 * PACING_HEADROOM / rate as f64)
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn run(len: usize, chunk: usize) -> (Vec<FtpPacket>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let mut req = FtpPacket::request(Opcode::BurstReadFile, 10);
        req.data = vec![0; chunk];
        let mut job = BurstJob::new((1, 1), &req);
        let mut all = Vec::new();
        for _ in 0..100_000 {
            if job.is_finished() {
                break;
            }
            all.extend(job.next_packets(&f, 7));
        }
        (all, data)
    }

    #[test]
    fn bursts_end_with_short_bc_packet_or_full_packet_then_eof() {
        for (len, chunk) in [
            (0, 0),
            (1, 0),
            (239, 0),
            (240, 80),
            (478, 239),
            (160, 80),
            (100, 80),
        ] {
            let (pkts, data) = run(len, chunk);
            let eff = if chunk == 0 { 239 } else { chunk };
            let mut got = Vec::new();
            for (i, p) in pkts.iter().enumerate() {
                assert_eq!(p.seq, 11 + i as u16);
            }
            for p in &pkts {
                if p.opcode == Opcode::Ack {
                    assert_eq!(p.offset as usize, got.len());
                    got.extend_from_slice(&p.data);
                }
            }
            assert_eq!(got, data, "len {len} chunk {chunk}");
            let eof = &pkts[pkts.len() - 1];
            assert_eq!(eof.nak_code(), Some(NakCode::Eof));
            assert_eq!(eof.req_opcode, Opcode::BurstReadFile);
            assert_eq!(eof.offset as usize, len);
            let data_pkts = &pkts[..pkts.len() - 1];
            if len % eff == 0 {
                assert!(
                    data_pkts
                        .iter()
                        .all(|p| !p.burst_complete && p.data.len() == eff)
                );
            } else {
                let last = &data_pkts[data_pkts.len() - 1];
                assert!(last.burst_complete && last.data.len() == len % eff);
                assert!(
                    data_pkts[..data_pkts.len() - 1]
                        .iter()
                        .all(|p| !p.burst_complete)
                );
            }
        }
    }
    #[test]
    fn paced_bursts_end_after_max_airtime_with_a_full_bc_packet() {
        let data: Vec<u8> = (0..20_011).map(|i| (i * 13 + 1) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        for chunk in [239usize, 80] {
            let mut req = FtpPacket::request(Opcode::BurstReadFile, 40);
            req.data = vec![0; chunk];
            let mut job = BurstJob::new((1, 1), &req);
            job.set_byte_rate(Some(5760));
            let mut pkts = Vec::new();
            while !job.is_finished() {
                pkts.extend(job.next_packets(&f, 3));
            }
            let per = BurstJob::wire_time(chunk, Some(5760));
            let n = pkts.len() as u32;
            assert!(per * n >= MAX_BURST_AIRTIME, "chunk {chunk}: {n} packets");
            assert!(
                per * (n - 1) < MAX_BURST_AIRTIME,
                "chunk {chunk}: {n} packets"
            );
            let last = pkts.last().unwrap();
            assert!(last.burst_complete && last.opcode == Opcode::Ack);
            assert_eq!(last.data.len(), chunk);
            assert!(pkts[..pkts.len() - 1].iter().all(|p| !p.burst_complete));
            assert_eq!(pkts[0].offset, 0);
            assert_eq!(last.offset as usize, chunk * (pkts.len() - 1));
        }
        // Frames of short chunks are paced by their real size.
        assert!(BurstJob::wire_time(80, Some(5760)) * 2 < BurstJob::interval(Some(5760)));
        assert_eq!(
            BurstJob::wire_time(239, Some(5760)),
            BurstJob::interval(Some(5760))
        );
        assert_eq!(BurstJob::wire_time(239, None), Duration::ZERO);
    }
}
