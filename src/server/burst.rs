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
//! pymavlink 2.4.50: an endless loop).
//!
//! # Rounds and flow control
//! A burst is one *round*: short of the end of the file it ends with
//! burst_complete=1 on a full packet at its cap (no EOF), and the client
//! asks for the next round from there, as every client does (pymavlink,
//! MAVSDK, QGC, ours). How a round is capped and paced depends on what the
//! server knows about the link ([`Pacing`]):
//! - **Known rate** (a serial baud rate, a simulated link, or a rate the
//!   application set): paced at that rate; a round ends after
//!   [`MAX_BURST_PACKETS`] or after [`MAX_BURST_AIRTIME`] of paced frames
//!   sent since the peer's last request.
//! - **Unknown rate** (UDP, TCP, custom links; the default): a round is at
//!   most [`ADAPTIVE_ROUND_PACKETS`] packets, few enough to fit a default
//!   socket receive buffer (Linux: 212,992 B hold 166 full frames), so a
//!   client that reads slowly (pymavlink on a busy machine) loses nothing
//!   while it catches up: every client asks for the next round only after
//!   it took the last packet of this one. The round is paced at a per-peer
//!   rate ([`FlowRate`]) for paths with a real bottleneck (a radio behind a
//!   UDP bridge): it halves (down to [`ADAPTIVE_MIN_RATE`]) when the
//!   client's next request shows that it lost data — a ReadFile for bytes a
//!   round already sent, or a burst from an offset below the last round's
//!   end — at most once per round, and grows by half (up to
//!   [`ADAPTIVE_MAX_RATE`]) when the client continues exactly where a capped
//!   round ended without having asked for anything again. The airtime cap
//!   applies too.
//! - **Unpaced** (rate set to 0): as fast as possible, rounds of
//!   [`MAX_BURST_PACKETS`].
//!
//! The airtime cap is for pymavlink, which abandons a download
//! (RemoteReplyTimeout) when it has *sent* nothing for its idle time (3.7 s
//! by default), however much burst data arrives: on a 5760 B/s radio one
//! uncapped burst lasts minutes. A client that keeps sending (gap-fill
//! reads on a lossy link) is not idle, so its burst goes on.
//!
//! A file that has grown to 4 GiB or more (the protocol's offsets are 32-bit)
//! ends the burst with NAK FailErrno EFBIG instead of a wrong EOF.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode};

use super::jail::errno_of;
use super::sessions::{Peer, SessionFile};

/// Packets in one round of a burst on a link of known rate (or unpaced).
pub const MAX_BURST_PACKETS: u32 = 2000;
/// Packets in one round of a burst on a link of unknown rate: fits a default
/// Linux UDP receive buffer (166 full frames, 256 of pymavlink's 80-byte
/// chunks) with room to spare for other traffic.
pub const ADAPTIVE_ROUND_PACKETS: u32 = 128;
/// Pacing rate (bytes per second of frames) a new peer starts at on a link
/// of unknown rate.
pub const ADAPTIVE_INITIAL_RATE: u32 = 3_000_000;
/// The per-peer rate never backs off below this (a 57,600-baud radio
/// carries 5,760 B/s).
pub const ADAPTIVE_MIN_RATE: u32 = 4_000;
/// The per-peer rate never grows beyond this.
pub const ADAPTIVE_MAX_RATE: u32 = 64_000_000;
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
/// Largest file size the protocol's 32-bit offsets and sizes can describe.
const MAX_PROTOCOL_SIZE: u64 = u32::MAX as u64;

/// How bursts are paced and capped (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Unknown link rate: small rounds at a per-peer adaptive rate.
    Adaptive,
    /// A known link rate (bytes per second of frames).
    Fixed(u32),
    /// As fast as possible.
    Unpaced,
}

/// The adaptive pacing rate of one peer (bytes per second of frames).
#[derive(Debug)]
pub struct FlowRate {
    rate: AtomicU32,
}

impl Default for FlowRate {
    fn default() -> Self {
        FlowRate::new()
    }
}

impl FlowRate {
    /// A peer's rate before anything is known: [`ADAPTIVE_INITIAL_RATE`].
    pub fn new() -> FlowRate {
        FlowRate {
            rate: AtomicU32::new(ADAPTIVE_INITIAL_RATE),
        }
    }

    /// The current rate.
    pub fn rate(&self) -> u32 {
        self.rate.load(Ordering::Relaxed)
    }

    /// The client lost data: halve the rate.
    pub fn back_off(&self) {
        let r = self.rate();
        self.rate
            .store((r / 2).max(ADAPTIVE_MIN_RATE), Ordering::Relaxed);
    }

    /// A round went through without loss: grow by half.
    pub fn grow(&self) {
        let r = self.rate() as u64;
        self.rate.store(
            (r + r / 2).min(ADAPTIVE_MAX_RATE as u64) as u32,
            Ordering::Relaxed,
        );
    }
}

/// One running burst round.
#[derive(Debug)]
pub struct BurstJob {
    /// Requesting peer.
    pub peer: Peer,
    /// Session read from.
    pub session: u8,
    /// The BurstReadFile request that started the burst.
    pub request: FtpPacket,
    file: Arc<SessionFile>,
    round: u64,
    flow: Arc<FlowRate>,
    offset: u32,
    chunk: u32,
    next_seq: u16,
    sent: u32,
    /// Paced airtime of the data packets sent since the burst began or its
    /// peer last sent a request (zero when unpaced).
    airtime: Duration,
    finished: bool,
    /// The round ended at its cap (not at the end of the file).
    capped: bool,
    /// Wire bytes every frame carries on top of [`Self::wire_time`]'s count:
    /// 13 while the link signs its frames (MAVLink 2 signature), else 0.
    signature_bytes: u32,
    /// When the next packet may be sent (pacing).
    pub next_due: Instant,
}

impl BurstJob {
    /// A job for a BurstReadFile request on an open session whose gate
    /// started round `round` (see [`super::sessions::Gate::new_round`]).
    pub fn new(
        peer: Peer,
        request: &FtpPacket,
        file: Arc<SessionFile>,
        round: u64,
        flow: Arc<FlowRate>,
    ) -> BurstJob {
        let chunk = match request.data.len() {
            0 => MAX_DATA as u32,
            n => n as u32,
        };
        BurstJob {
            peer,
            session: request.session,
            request: request.clone(),
            file,
            round,
            flow,
            offset: request.offset,
            chunk,
            next_seq: request.seq.wrapping_add(1),
            sent: 0,
            airtime: Duration::ZERO,
            finished: false,
            capped: false,
            signature_bytes: 0,
            next_due: Instant::now(),
        }
    }

    /// Count `bytes` more per frame in the pacing (the link signs frames).
    pub fn set_signature_bytes(&mut self, bytes: u32) {
        self.signature_bytes = bytes;
    }

    /// Paced airtime of one packet carrying `data_len` bytes on this job's link.
    fn packet_time(&self, data_len: usize, rate: Option<u32>) -> Duration {
        Self::wire_time(data_len, rate) + Self::frame_time(self.signature_bytes, rate)
    }

    /// The rate this burst is paced at now (None = unpaced).
    pub fn rate(&self, pacing: Pacing) -> Option<u32> {
        match pacing {
            Pacing::Adaptive => Some(self.flow.rate()),
            Pacing::Fixed(r) if r > 0 => Some(r),
            Pacing::Fixed(_) | Pacing::Unpaced => None,
        }
    }

    /// The peer sent a request: it is not idle, so the airtime cap starts
    /// over.
    pub fn peer_spoke(&mut self) {
        self.airtime = Duration::ZERO;
    }

    /// Whether the burst has sent its last packet (or was stopped).
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

    /// Produce up to `max` further packets and hand each to `send`, under the
    /// session's gate: a session closed (or a newer round started) stops the
    /// burst silently, and no packet of it can follow the close's reply.
    /// Returns the paced airtime of what was sent.
    pub fn pump(
        &mut self,
        pacing: Pacing,
        max: usize,
        mut send: impl FnMut(&FtpPacket),
    ) -> Duration {
        let rate = self.rate(pacing);
        let cap = match pacing {
            Pacing::Adaptive => ADAPTIVE_ROUND_PACKETS,
            Pacing::Fixed(_) | Pacing::Unpaced => MAX_BURST_PACKETS,
        };
        let file = Arc::clone(&self.file);
        let mut gate = file.gate.lock();
        if !gate.open || gate.round.is_none_or(|r| r.id != self.round) {
            self.finished = true;
            return Duration::ZERO;
        }
        file.touch();
        let packets = self.next_packets(&file, max, rate, cap);
        let mut airtime = Duration::ZERO;
        for p in &packets {
            if p.opcode == Opcode::Ack {
                airtime += self.packet_time(p.data.len(), rate);
            }
            send(p);
        }
        if let Some(round) = gate.round.as_mut() {
            round.sent_end = self.offset;
            if self.finished {
                round.finished = true;
                round.capped = self.capped;
            }
        }
        airtime
    }

    /// Produce up to `max` further packets, reading from `file`.
    fn next_packets(
        &mut self,
        file: &SessionFile,
        max: usize,
        rate: Option<u32>,
        cap: u32,
    ) -> Vec<FtpPacket> {
        let mut out = Vec::new();
        while !self.finished && out.len() < max {
            // A full packet read ahead already: no size check, no read.
            let buf = if let Some(bytes) = file.cached(u64::from(self.offset), self.chunk as usize)
            {
                bytes
            } else {
                let size = match file.file.metadata() {
                    Ok(m) => m.len(),
                    Err(e) => {
                        out.push(self.fail(NakCode::FailErrno, errno_of(&e) as u8));
                        break;
                    }
                };
                if size > MAX_PROTOCOL_SIZE {
                    // Grew past what 32-bit offsets describe: not a clean EOF.
                    out.push(self.fail(NakCode::FailErrno, libc::EFBIG as u8));
                    break;
                }
                let size = size as u32;
                if self.offset >= size {
                    let mut nak = self.fail(NakCode::Eof, 0);
                    nak.offset = size;
                    out.push(nak);
                    break;
                }
                let want = self.chunk.min(size - self.offset) as usize;
                let mut buf = vec![0u8; want];
                match file.read_at(u64::from(self.offset), &mut buf) {
                    Ok(got) => buf.truncate(got),
                    Err(e) => {
                        out.push(self.fail(NakCode::FailErrno, errno_of(&e) as u8));
                        return out;
                    }
                }
                buf
            };
            let got = buf.len();
            let short = (got as u32) < self.chunk;
            self.sent += 1;
            self.airtime += self.packet_time(got, rate);
            let capped = !short
                && (self.sent >= cap || (rate.is_some() && self.airtime >= MAX_BURST_AIRTIME));
            let offset = self.offset;
            let pkt = self.packet(Opcode::Ack, offset, buf, short || capped);
            out.push(pkt);
            self.offset += got as u32;
            if short {
                let mut nak = self.fail(NakCode::Eof, 0);
                nak.offset = self.offset;
                out.push(nak);
            } else if capped {
                self.finished = true;
                self.capped = true;
            }
        }
        out
    }

    /// A NAK of this burst (seq continues the burst's); it ends the round.
    fn fail(&mut self, code: NakCode, errno: u8) -> FtpPacket {
        let mut p = FtpPacket::nak_for(&self.request, code, errno);
        p.seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.finished = true;
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

    /// Paced airtime of `bytes` bytes of frames on a link of `byte_rate`
    /// bytes/s (with [`PACING_HEADROOM`]).
    pub fn line_time(bytes: u64, byte_rate: u32) -> Duration {
        Duration::from_secs_f64(bytes as f64 * PACING_HEADROOM / byte_rate.max(1) as f64)
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
    use crate::link::Route;
    use crate::server::sessions::{PeerSessions, Quota};
    use parking_lot::Mutex;
    use std::io::Write;

    /// A session on `data` with a new round at offset 0.
    fn session(data: &[u8]) -> (PeerSessions, Arc<SessionFile>, u64) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        let quota = Arc::new(Mutex::new(Quota::default()));
        let mut s = PeerSessions::new(Route::LOCAL, quota, Instant::now());
        s.open(0, f, false, Duration::from_secs(60)).unwrap();
        let file = Arc::clone(s.get(0).unwrap());
        let round = file.gate.lock().new_round(0);
        (s, file, round)
    }

    fn job(req: &FtpPacket, file: &Arc<SessionFile>, round: u64) -> BurstJob {
        BurstJob::new(
            (Route::LOCAL, 1, 1),
            req,
            Arc::clone(file),
            round,
            Arc::new(FlowRate::new()),
        )
    }

    fn run(len: usize, chunk: usize, pacing: Pacing) -> (Vec<FtpPacket>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let (_s, file, round) = session(&data);
        let mut req = FtpPacket::request(Opcode::BurstReadFile, 10);
        req.data = vec![0; chunk];
        let mut job = job(&req, &file, round);
        let mut all = Vec::new();
        for _ in 0..100_000 {
            if job.is_finished() {
                break;
            }
            job.pump(pacing, 7, |p| all.push(p.clone()));
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
            let (pkts, data) = run(len, chunk, Pacing::Unpaced);
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
    fn signed_frames_are_paced_with_their_signature_bytes() {
        let data: Vec<u8> = (0..20_011).map(|i| (i * 13 + 1) as u8).collect();
        let count = |signature_bytes: u32| {
            let (_s, file, round) = session(&data);
            let mut req = FtpPacket::request(Opcode::BurstReadFile, 40);
            req.data = vec![0; 239];
            let mut job = job(&req, &file, round);
            job.set_signature_bytes(signature_bytes);
            let (mut n, mut airtime) = (0, Duration::ZERO);
            while !job.is_finished() {
                airtime += job.pump(Pacing::Fixed(5760), 3, |_| n += 1);
            }
            (n, airtime)
        };
        let (plain_n, plain_time) = count(0);
        let (signed_n, signed_time) = count(13);
        // 279-byte frames instead of 266: fewer fit the 1 s airtime cap, and
        // each takes 13 bytes' more time.
        assert!(signed_n < plain_n, "{signed_n} vs {plain_n}");
        let per_plain = plain_time / plain_n;
        let per_signed = signed_time / signed_n;
        let want = BurstJob::wire_time(239, Some(5760)) * 279 / 266;
        assert!(per_signed > per_plain);
        assert!(
            per_signed.abs_diff(want) < Duration::from_micros(50),
            "{per_signed:?} vs {want:?}"
        );
    }

    #[test]
    fn paced_bursts_end_after_max_airtime_with_a_full_bc_packet() {
        let data: Vec<u8> = (0..20_011).map(|i| (i * 13 + 1) as u8).collect();
        for chunk in [239usize, 80] {
            let (_s, file, round) = session(&data);
            let mut req = FtpPacket::request(Opcode::BurstReadFile, 40);
            req.data = vec![0; chunk];
            let mut job = job(&req, &file, round);
            let mut pkts = Vec::new();
            while !job.is_finished() {
                job.pump(Pacing::Fixed(5760), 3, |p| pkts.push(p.clone()));
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
            let r = file.gate.lock().round.unwrap();
            assert!(r.finished && r.capped && !r.loss_seen);
            assert_eq!(r.sent_end as usize, chunk * pkts.len());
        }
        // Frames of short chunks are paced by their real size.
        assert!(BurstJob::wire_time(80, Some(5760)) * 2 < BurstJob::interval(Some(5760)));
        assert_eq!(
            BurstJob::wire_time(239, Some(5760)),
            BurstJob::interval(Some(5760))
        );
        assert_eq!(BurstJob::wire_time(239, None), Duration::ZERO);
    }

    #[test]
    fn adaptive_rounds_are_capped_at_the_round_size() {
        for chunk in [239usize, 80] {
            let (pkts, data) = run(300 * chunk + 5, chunk, Pacing::Adaptive);
            assert_eq!(pkts.len(), ADAPTIVE_ROUND_PACKETS as usize, "chunk {chunk}");
            let last = pkts.last().unwrap();
            assert!(last.burst_complete && last.data.len() == chunk);
            assert!(pkts[..pkts.len() - 1].iter().all(|p| !p.burst_complete));
            assert_eq!(last.data, data[chunk * (pkts.len() - 1)..][..chunk]);
        }
    }

    #[test]
    fn a_closed_session_or_a_newer_round_stops_the_burst() {
        let data = vec![5u8; 10_000];
        let (mut s, file, round) = session(&data);
        let req = FtpPacket::request(Opcode::BurstReadFile, 1);
        let mut old = job(&req, &file, round);
        let mut sent = 0;
        old.pump(Pacing::Unpaced, 2, |_| sent += 1);
        assert_eq!(sent, 2);
        let newer = file.gate.lock().new_round(478);
        old.pump(Pacing::Unpaced, 2, |_| sent += 1);
        assert_eq!(sent, 2, "superseded round sends nothing");
        assert!(old.is_finished());
        let mut current = job(&req, &file, newer);
        s.close(0);
        current.pump(Pacing::Unpaced, 2, |_| sent += 1);
        assert_eq!(sent, 2, "closed session sends nothing");
        assert!(current.is_finished());
    }

    #[test]
    fn flow_rate_halves_on_loss_grows_by_half_and_stays_in_bounds() {
        let f = FlowRate::new();
        assert_eq!(f.rate(), ADAPTIVE_INITIAL_RATE);
        f.back_off();
        assert_eq!(f.rate(), ADAPTIVE_INITIAL_RATE / 2);
        f.grow();
        assert_eq!(f.rate(), ADAPTIVE_INITIAL_RATE / 4 * 3);
        for _ in 0..40 {
            f.back_off();
        }
        assert_eq!(f.rate(), ADAPTIVE_MIN_RATE);
        for _ in 0..80 {
            f.grow();
        }
        assert_eq!(f.rate(), ADAPTIVE_MAX_RATE);
    }
}
