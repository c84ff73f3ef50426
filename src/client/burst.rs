//! Burst download.
//!
//! A BurstReadFile streams the file from the high-water mark `high`. Every
//! packet that arrives beyond `high` leaves a hole behind it; holes are read
//! with a window of ReadFile requests *while the burst keeps streaming*, and
//! late burst packets that land in a hole fill it too. When a burst ends
//! early (burst_complete=1 before the end) the next one starts at `high`;
//! when it stalls (no packet for a few packet intervals, at least one RTO)
//! it restarts from `high`. After the first round that ended early, reads
//! are timed against the burst, and the download switches to plain reads
//! when they are clearly faster (MAVSDK 4.1's server paces bursts at
//! ~115 KB/s; a server that floods a slow radio loses its burst tail).
//!
//! The end is a short burst_complete packet at the advertised size, or NAK
//! EOF carrying that size; anything less certain (MAVSDK's EOF with offset 0,
//! an ArduPilot `@PARAM` file whose open size is fake) is confirmed with a
//! plain read at the end.

use std::time::{Duration, Instant};

use super::conversation::Conversation;
use super::holes::HoleList;
use super::part_file::PartFile;
use super::progress::ProgressGate;
use super::read::read_body;
use super::trace::trace;
use super::types::Progress;
use super::window::{Reply, Window, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};
use crate::result::FtpOutcome;

/// Reads must beat the burst by this factor before the download switches.
const READS_FASTER_FACTOR: f64 = 1.02;
/// A streaming burst is stalled after this many typical packet intervals of
/// silence (a burst that has not started yet waits one RTO, backed off
/// after silent rounds).
const STALL_INTERVALS: u32 = 6;
/// Shortest silence taken for a stall (scheduling jitter on a busy host).
const MIN_STALL: Duration = Duration::from_millis(25);
/// Reads are timed against the burst only when the rest of the file would
/// take bursts at least this many RTOs (timing them costs one or two).
const PROBE_WORTH_RTOS: u32 = 8;

/// Download the open file `session` (advertised `size`) into `part` with bursts.
pub(crate) fn burst_body(
    conv: &mut Conversation,
    session: u8,
    size: u32,
    part: &mut PartFile,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let reads = Window::for_data(conv, conv.settings().read_window);
    let mut download = BurstDownload {
        conv,
        session,
        size,
        part,
        progress,
        high: 0,
        holes: HoleList::new(),
        reads,
        eof: None,
    };
    let result = download.run();
    download.reads.save_probe(download.conv);
    result
}

/// How a burst round ended.
enum RoundEnd {
    /// A short burst_complete packet, or NAK EOF, at the advertised size.
    AtEnd,
    /// NAK EOF (or burst_complete at the advertised size) that needs a read to confirm.
    NeedsConfirm,
    /// burst_complete before the end: burst again from `high`.
    Early,
    /// No packet for too long: burst again from `high`.
    Stalled,
}

/// What one step of the receive loop saw.
enum Event {
    /// Nothing of the current burst (a read reply, a stray, or nothing).
    Other,
    /// A data packet of the current burst.
    BurstData {
        burst_complete: bool,
        short: bool,
        end: u32,
    },
    /// NAK EOF of the current burst, with the offset it carries.
    BurstEof { offset: u32 },
}

struct BurstDownload<'a> {
    conv: &'a mut Conversation,
    session: u8,
    /// Size from OpenFileRO (advisory: ArduPilot's virtual files lie).
    size: u32,
    part: &'a mut PartFile,
    progress: &'a mut ProgressGate,
    /// Every byte below is written, in a hole, or asked for by a read in flight.
    high: u32,
    /// Missing ranges below `high` not yet asked for.
    holes: HoleList,
    /// Gap-fill ReadFile requests in flight: (offset, length).
    reads: Window<(u32, u32)>,
    /// End of file, once a read ran into it.
    eof: Option<u32>,
}

impl BurstDownload<'_> {
    fn run(&mut self) -> FtpOutcome<()> {
        let retries = self.conv.settings().retries.max(1);
        let mut stalls = 0u32;
        let mut probed = false;
        loop {
            let (started, from) = (Instant::now(), self.high);
            let end = self.burst_round(stalls)?;
            let progressed = self.high > from;
            match end {
                RoundEnd::AtEnd => return self.finish(false),
                RoundEnd::NeedsConfirm => return self.finish(true),
                RoundEnd::Early | RoundEnd::Stalled => {}
            }
            if self.eof.is_some_and(|e| e <= self.high) {
                return self.finish(true);
            }
            if progressed {
                stalls = 0;
            } else {
                stalls += 1;
                if stalls > retries {
                    return Err(self
                        .conv
                        .timeout_error(&FtpPacket::request(Opcode::BurstReadFile, 0)));
                }
            }
            if progressed && !probed {
                probed = true;
                let arrived = (self.high - from).saturating_sub(self.missing());
                let burst_rate = arrived as f64 / started.elapsed().as_secs_f64();
                // Timing reads drains the window (a round trip or two):
                // not worth it for a rest that bursts bring in quickly.
                let rest = self.size.saturating_sub(self.high) as f64;
                let worth = (self.conv.rto() * PROBE_WORTH_RTOS).as_secs_f64();
                if rest >= burst_rate * worth && self.reads_are_faster(burst_rate)? {
                    return self.finish(true);
                }
            }
        }
    }

    /// One BurstReadFile from `high`, followed until it ends or stalls
    /// (the wait for its first packet backs off after `stalls` silent rounds).
    fn burst_round(&mut self, stalls: u32) -> FtpOutcome<RoundEnd> {
        let mut req = FtpPacket::request(Opcode::BurstReadFile, self.conv.take_seq());
        req.session = self.session;
        req.offset = self.high;
        req.data = vec![0u8; MAX_DATA];
        let burst_seq = req.seq;
        let conv = &mut *self.conv;
        conv.send(&req)?;
        trace!(
            "burst seq {} from {} ({} holes)",
            burst_seq,
            self.high,
            self.holes.len()
        );
        let sent = Instant::now();
        let mut first_packet: Option<(Instant, u32)> = None;
        let mut last_packet: Option<Instant> = None;
        let mut interval: Option<Duration> = None;
        let mut packets = 0u32;
        loop {
            let quiet_limit = match (last_packet, interval) {
                (Some(_), Some(i)) => (i * STALL_INTERVALS).max(MIN_STALL),
                _ => self.conv.backed_off(self.conv.rto(), stalls),
            };
            let stall_at = last_packet.unwrap_or(sent) + quiet_limit;
            if Instant::now() >= stall_at {
                trace!(
                    "burst stalled at {} after {:?} quiet",
                    self.high, quiet_limit
                );
                return Ok(RoundEnd::Stalled);
            }
            match self.step(stall_at, Some(burst_seq))? {
                Event::Other => {}
                Event::BurstData {
                    burst_complete,
                    short,
                    end,
                } => {
                    let now = Instant::now();
                    if let Some(prev) = last_packet {
                        let gap = now - prev;
                        interval = Some(interval.map_or(gap, |i| (i * 7 + gap) / 8));
                    }
                    last_packet = Some(now);
                    packets += 1;
                    let (t0, n0) = *first_packet.get_or_insert((now, packets));
                    if packets >= n0 + 8 {
                        // The link's delivery rate sizes the gap-fill window.
                        let rate = (packets - n0) as f64 / (now - t0).as_secs_f64().max(1e-6);
                        self.reads.assume_rate(rate);
                    }
                    if burst_complete {
                        trace!("burst complete at {end} (high {})", self.high);
                        let at_size = self.size > 0 && end == self.high && self.high >= self.size;
                        return Ok(if short && at_size {
                            RoundEnd::AtEnd
                        } else if short || at_size {
                            RoundEnd::NeedsConfirm
                        } else {
                            RoundEnd::Early
                        });
                    }
                }
                Event::BurstEof { offset } => {
                    trace!("burst EOF offset {offset} (high {})", self.high);
                    let exact = self.size > 0 && offset == self.high && self.high == self.size;
                    return Ok(if exact {
                        RoundEnd::AtEnd
                    } else {
                        RoundEnd::NeedsConfirm
                    });
                }
            }
        }
    }

    /// Time a plain read of about as much as the last burst round brought;
    /// true when reads are clearly faster: the rest of the file is then a
    /// hole that the read window goes on filling. Both rates leave out loss
    /// recovery: the burst counts what arrived in its round, the reads the
    /// time to 90 % of their chunk.
    fn reads_are_faster(&mut self, burst_rate: f64) -> FtpOutcome<bool> {
        self.fill_all_holes()?;
        let chunk = (self.high.min(self.size.saturating_sub(self.high) / 2) / MAX_DATA as u32)
            * MAX_DATA as u32;
        if chunk < 8 * MAX_DATA as u32 {
            return Ok(false);
        }
        self.holes
            .insert(self.high as u64, (self.high + chunk) as u64);
        self.high += chunk;
        // Steady-state rate: from the first reply to 90 % of the chunk (the
        // first round trip is paid once by reads, by bursts every round).
        let mut first_reply: Option<(Instant, u32)> = None;
        while self.missing() > chunk / 10 && self.eof.is_none() {
            self.step(Instant::now() + Duration::from_millis(50), None)?;
            let missing = self.missing();
            if first_reply.is_none() && missing < chunk {
                first_reply = Some((Instant::now(), missing));
            }
        }
        let read_rate = first_reply.map_or(0.0, |(t, m)| {
            m.saturating_sub(self.missing()) as f64 / t.elapsed().as_secs_f64().max(1e-6)
        });
        trace!("probe: reads {read_rate:.0} B/s, burst {burst_rate:.0} B/s");
        // The open size was advisory (ArduPilot @PARAM): reads found the end.
        let faster = self.eof.is_some() || read_rate > burst_rate * READS_FASTER_FACTOR;
        if faster && self.eof.is_none() && self.size > self.high {
            // The rest of the file becomes one hole, read by the same window
            // without draining it first (a drain costs a round trip or two).
            self.holes.insert(self.high as u64, self.size as u64);
            self.high = self.size;
        }
        if !faster {
            self.fill_all_holes()?;
        }
        Ok(faster)
    }

    /// Fill every hole, then confirm the end with a plain read from `high`
    /// (which also fetches whatever a growing file gained) if asked to.
    fn finish(&mut self, confirm: bool) -> FtpOutcome<()> {
        self.fill_all_holes()?;
        let end = self.eof.map_or(self.high, |e| e.min(self.high));
        if confirm || self.eof.is_some() {
            read_body(
                self.conv,
                &mut self.reads,
                self.session,
                self.size,
                self.part,
                self.progress,
                end,
            )?;
        } else {
            self.part.truncate(end as u64)?;
        }
        Ok(())
    }

    /// Process replies until no hole is left and no read is in flight.
    fn fill_all_holes(&mut self) -> FtpOutcome<()> {
        while !self.holes.is_empty() || self.reads.in_flight() > 0 {
            self.step(Instant::now() + Duration::from_millis(50), None)?;
        }
        Ok(())
    }

    /// Ask for holes while the read window has room, wait for one packet
    /// (until `until` at most) and handle it.
    fn step(&mut self, until: Instant, burst_seq: Option<u16>) -> FtpOutcome<Event> {
        self.conv.check_cancel()?;
        self.request_holes()?;
        let mut wake = until;
        if self.reads.in_flight() > 0 {
            wake = wake.min(self.reads.resend_overdue(self.conv)?);
        }
        let Some(p) = self
            .conv
            .recv(wake.min(Instant::now() + Duration::from_millis(50)), true)?
        else {
            return Ok(Event::Other);
        };
        if p.req_opcode == Opcode::BurstReadFile {
            return self.on_burst_packet(p, burst_seq);
        }
        if let Some(((offset, want), reply)) = self.reads.accept(self.conv, p) {
            self.on_read_reply(offset, want, reply)?;
        }
        Ok(Event::Other)
    }

    /// A burst packet: data of any burst of this session is kept; only the
    /// current burst (seq after `burst_seq`) drives the round.
    fn on_burst_packet(&mut self, p: FtpPacket, burst_seq: Option<u16>) -> FtpOutcome<Event> {
        let current = burst_seq.is_some_and(|s| {
            let d = p.seq.wrapping_sub(s);
            d != 0 && d < 0x8000
        });
        if current {
            self.conv.saw_seq(p.seq);
        }
        if p.opcode == Opcode::Nak {
            if !current {
                return Ok(Event::Other);
            }
            if is_nak(&p, NakCode::Eof) {
                return Ok(Event::BurstEof { offset: p.offset });
            }
            return Err(nak_to_error(
                &p,
                &format!("burst read at offset {}", self.high),
            ));
        }
        if p.session != self.session {
            return Ok(Event::Other);
        }
        let end = p.offset.saturating_add(p.data.len() as u32);
        self.store_burst_data(p.offset, &p.data, current)?;
        if !current {
            return Ok(Event::Other);
        }
        Ok(Event::BurstData {
            burst_complete: p.burst_complete,
            short: p.data.len() < MAX_DATA,
            end,
        })
    }

    /// Keep burst data that fills a hole, overtakes a read in flight or
    /// extends `high` (leaving a hole when it jumps ahead; only the current
    /// burst may jump).
    fn store_burst_data(&mut self, offset: u32, data: &[u8], current: bool) -> FtpOutcome<()> {
        let (a, b) = (offset, offset.saturating_add(data.len() as u32));
        if data.is_empty() || self.eof.is_some_and(|e| a >= e) {
            return Ok(());
        }
        let mut fresh = false;
        if a < self.high {
            fresh |= self.holes.cut(a as u64, b.min(self.high) as u64);
            if self.reads.any(|&(o, n)| o >= a && o + n <= b) {
                self.reads.drop_where(|&(o, n)| o >= a && o + n <= b);
                fresh = true;
            }
        }
        if b > self.high && (current || a <= self.high) {
            if a > self.high {
                trace!("hole {}..{}", self.high, a);
                self.holes.insert(self.high as u64, a as u64);
            }
            self.high = b;
            fresh = true;
        }
        if fresh {
            self.part.write_at(a as u64, data)?;
            self.report_progress();
        }
        Ok(())
    }

    /// A reply to a gap-fill read.
    fn on_read_reply(&mut self, offset: u32, want: u32, reply: Reply) -> FtpOutcome<()> {
        match reply {
            Reply::Ack(p) if !p.data.is_empty() => {
                let n = (p.data.len() as u32).min(want);
                if self.eof.is_none_or(|e| offset < e) {
                    self.part.write_at(offset as u64, &p.data[..n as usize])?;
                }
                if n < want {
                    // A short read inside the file: ask again for the rest.
                    self.holes
                        .insert((offset + n) as u64, (offset + want) as u64);
                }
                self.report_progress();
                Ok(())
            }
            Reply::Nak(p) if !is_nak(&p, NakCode::Eof) => {
                Err(nak_to_error(&p, &format!("read at offset {offset}")))
            }
            // NAK EOF or an empty read: the file ends here.
            _ => {
                let e = self.eof.map_or(offset, |old| old.min(offset));
                self.eof = Some(e);
                self.reads.drop_where(|&(o, _)| o >= e);
                self.holes.cut(e as u64, u64::MAX);
                Ok(())
            }
        }
    }

    /// Send ReadFile requests for the first holes while the window has room.
    fn request_holes(&mut self) -> FtpOutcome<()> {
        while self.reads.has_room() {
            let Some((a, b)) = self.holes.take_front(MAX_DATA as u64) else {
                break;
            };
            let (a, n) = (a as u32, (b - a) as u32);
            if self.eof.is_some_and(|e| a >= e) {
                continue;
            }
            let mut req = FtpPacket::request(Opcode::ReadFile, 0);
            req.session = self.session;
            req.offset = a;
            req.data = vec![0u8; n as usize];
            self.reads.send(self.conv, req, (a, n))?;
        }
        Ok(())
    }

    /// Bytes below `high` not received yet (in holes or asked for).
    fn missing(&self) -> u32 {
        self.holes.total() as u32 + self.reads.tags().map(|&(_, n)| n).sum::<u32>()
    }

    fn report_progress(&mut self) {
        let have = self.high.saturating_sub(self.missing());
        self.progress.report(
            Progress {
                bytes_transferred: have,
                total_bytes: self.size.max(self.high),
            },
            false,
        );
    }
}
