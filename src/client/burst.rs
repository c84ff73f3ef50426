//! Burst download.
//!
//! A BurstReadFile streams the file from the high-water mark `high`. Every
//! packet that arrives beyond `high` leaves a hole behind it; holes are read
//! with a window of ReadFile requests *while the burst keeps streaming*, and
//! late burst packets that land in a hole fill it too. When a burst ends
//! early (burst_complete=1 before the end) the next one starts at `high`;
//! when it stalls (no packet for a few packet intervals, at least one RTO)
//! it restarts from `high`. A streaming burst during which the client has
//! sent nothing for a while gets a keep-alive (see [`KEEPALIVE_AFTER`]), so
//! that a server ending rounds on silence goes on. After the first round
//! that ended early, reads are timed against the burst, and the download
//! switches to plain reads when they are clearly faster (MAVSDK 4.1's
//! server paces bursts at ~115 KB/s; a server that floods a slow radio
//! loses its burst tail).
//!
//! The end is a short burst_complete packet at the advertised size, or NAK
//! EOF carrying that size; anything less certain (MAVSDK's EOF with offset 0,
//! an ArduPilot `@PARAM` file whose open size is fake) is confirmed with a
//! plain read at the end.
//!
//! Holes are read while a round streams only once the server has shown
//! that its reads and bursts do not share a file position: it answered a
//! keep-alive, or it ended a round before the end of the file. MAVSDK's
//! server before 4.0 (bursts from a thread of their own, one round to the
//! end of the file, no answer to opcode 0) reads burst packets at the
//! position its last ReadFile left and labels them with the burst's own
//! offset: a hole read during its burst would shift the bytes of every
//! later packet behind offsets that look right (docs/PROTOCOL_NOTES.md
//! §6). Until then the holes wait for the round's last packet, and reads
//! in flight are answered before a round is asked. After a round that
//! stalled, the holes are read (and reads timed) as after any other: a
//! server that floods a slow radio loses its round's last packet every
//! time (MAVSDK 4.1 sends at ~115 KB/s), and reads are then what fetches
//! the file. As such a stalled stream may in fact still run, the packets
//! of a round that stalled are dropped once a read went out, and the
//! download is compared with the server's CalcFileCRC32 before it is
//! reported complete (FILE_IO_ERROR, and nothing left behind, if they
//! differ).
//!
//! A burst packet is used only if it is for our session and its (seq,
//! offset) fit one of our recent rounds: packet k of a round asked at seq s
//! from offset o carries seq s + k and offset o + (k − 1) × chunk. Anything
//! else (another client's burst on the same session id, a confused server)
//! is dropped and its bytes are read again if needed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::conversation::{Halt, Step};
use super::fetch::{Fetch, session_gone};
use super::pipeline::RoundPipeline;
use super::trace::trace;
use super::window::{IDLE_WAKE, LINGER, LINGER_MIN_INTERVAL, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};

/// Reads must beat the burst by this factor before the download switches.
/// A burst costs the client and the uplink far less than reads (a request
/// now and then instead of one per packet), and one round's rate is a
/// little low against the reads' steady state (its first round trip, a
/// server's pacing headroom of about 1 %, keep-alives): reads only a few
/// percent faster are not worth it (MAVSDK 4.1's burst is slower by half).
const READS_FASTER_FACTOR: f64 = 1.05;
/// A streaming burst is stalled after this many typical packet intervals of
/// silence (a burst that has not started yet waits one RTO, backed off
/// after silent rounds).
const STALL_INTERVALS: u32 = 6;
/// Shortest silence taken for a stall (scheduling jitter on a busy host).
const MIN_STALL: Duration = Duration::from_millis(25);
/// Reads are timed against the burst only when the rest of the file would
/// take bursts at least this many RTOs (timing them costs one or two).
const PROBE_WORTH_RTOS: u32 = 8;

/// A burst that streams while the client has sent nothing for this long
/// gets a keep-alive: a None request (opcode 0, a no-op that touches no
/// session: PX4, ArduPilot and our server acknowledge it, MAVSDK's server
/// does not answer; docs/PROTOCOL_NOTES.md §2). Our server ends a round on
/// a link of known rate after 1 s of airtime in which its client sent
/// nothing (pymavlink gives up when it has sent nothing for its idle
/// time), and PX4 closes a session after 10 s
/// without a request even while it bursts: a client that says nothing for
/// a second on a slow radio pays a round trip per second of data and then
/// reads the rest plainly (see `reads_are_faster`). With the keep-alive a
/// round lasts until the end of the file or the server's packet cap, for a
/// request of a few bytes and its few-byte answer per interval (under 1 %
/// of a 5760 B/s link).
const KEEPALIVE_AFTER: Duration = Duration::from_millis(600);
/// A keep-alive unanswered for this long is sent once more (it or its
/// answer may have been lost): the two fit in our server's second.
const KEEPALIVE_RETRY: Duration = Duration::from_millis(250);

/// Seqs between a round that did not end and the next (more than the
/// packets of one ArduPilot burst).
const ROUND_SEQ_SPACING: u16 = 2048;
/// Rounds remembered for the (seq, offset) check of late packets.
const ROUNDS_KEPT: usize = 8;

/// Download with bursts until the end of the file (the part file is then
/// cut at the end). Resumable: after a lost session the caller re-opens and
/// calls again with the same [`Fetch`].
pub(crate) fn burst_body(fetch: &mut Fetch<'_>) -> Step<()> {
    fetch.fill_mode();
    let mut download = BurstDownload {
        f: fetch,
        rounds: VecDeque::new(),
        keepalive: None,
        unanswered: 0,
        pipeline: RoundPipeline::default(),
        asked_early: false,
        stream_rate: None,
        reads_mid_round: false,
        hold_reads: false,
        finishing: false,
        probe_end: false,
    };
    let result = download.run();
    download.f.reads.save_probe(download.f.conv);
    result
}

/// One BurstReadFile we sent: packet k (k ≥ 1) answers with seq `seq + k`
/// at offset `start + (k − 1) × chunk`.
#[derive(Clone, Copy, Debug)]
struct Round {
    seq: u16,
    start: u64,
    /// The server's packet size, once a packet showed it.
    chunk: Option<u64>,
    /// Number of its last packet, once its burst_complete packet or EOF
    /// arrived (the next round's seqs and offsets continue where it ended).
    last: Option<u64>,
    /// Number of the highest packet of it that arrived.
    highest: u64,
    /// A read went out while it may still have streamed from a server that
    /// has not shown its reads leave its bursts alone: its later packets may
    /// carry bytes from where the read left off, and are dropped.
    poisoned: bool,
}

impl Round {
    /// k of a packet with `seq` (0 if it cannot be of this round).
    fn packet_number(&self, seq: u16) -> u64 {
        let k = u64::from(seq.wrapping_sub(self.seq));
        if k >= 0x8000 { 0 } else { k }
    }

    /// Whether a data packet with `seq`, `offset` and `len` bytes fits this
    /// round (learning the chunk size from the first one that shows it).
    fn admits(&mut self, seq: u16, offset: u64, len: u64) -> bool {
        let k = self.packet_number(seq);
        if k == 0 || self.last.is_some_and(|l| k > l) || offset < self.start {
            return false;
        }
        let (index, span) = (k - 1, offset - self.start);
        let fits = match self.chunk {
            Some(c) => span == index * c && len <= c,
            None if index == 0 => {
                // A full-size first packet shows the chunk; a short one is
                // the whole rest of the file (or the server's chunk).
                self.chunk = Some(len.max(1));
                span == 0
            }
            None => {
                if span % index != 0 {
                    return false;
                }
                let c = span / index;
                if c == 0 || c > MAX_DATA as u64 || len > c {
                    return false;
                }
                self.chunk = Some(c);
                true
            }
        };
        if fits {
            self.highest = self.highest.max(k);
        }
        fits
    }
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
    /// The next round was asked before this one ended (see
    /// [`RoundPipeline`]): follow it; this one's last packets still come.
    AskedNext(Asked),
}

/// A BurstReadFile sent: its seq and when.
#[derive(Clone, Copy)]
struct Asked {
    seq: u16,
    at: Instant,
}

/// What one step of the receive loop saw.
enum Event {
    /// Nothing of the current burst (a read reply, a stray, or nothing).
    Other,
    /// New data from an earlier round of ours that still streams (a round
    /// asked again after a stall whose stream went on behind a queue).
    EarlierRoundData,
    /// A data packet of the current burst, its packet number in the round.
    BurstData {
        number: u64,
        burst_complete: bool,
        short: bool,
        end: u64,
    },
    /// NAK EOF of the current burst, with the offset it carries.
    BurstEof { offset: u32 },
}

struct BurstDownload<'f, 'a> {
    f: &'f mut Fetch<'a>,
    /// Our recent rounds, newest last.
    rounds: VecDeque<Round>,
    /// The current round's last keep-alive (its seq) and how many of its
    /// keep-alives in a row are unanswered: after two (a server that does
    /// not answer while it bursts; a single one may be a lost frame) no
    /// more this round.
    keepalive: Option<u16>,
    unanswered: u32,
    /// When to ask the next round.
    pipeline: RoundPipeline,
    /// The current round was asked before its predecessor ended: the
    /// predecessor's last packets may still leave holes behind them.
    asked_early: bool,
    /// Bytes per second the latest round that ended early streamed at,
    /// from its first packet to its last.
    stream_rate: Option<f64>,
    /// Holes may be read while a round streams: the server answered a
    /// keep-alive or ended a round early, so it is not one whose bursts
    /// read at the position a ReadFile moves (see the module doc).
    reads_mid_round: bool,
    /// No new read is asked (while the reads in flight drain).
    hold_reads: bool,
    /// The last holes are read: nothing follows them but the close, so
    /// the read window is at the tail of the transfer when it has room
    /// (see [`super::window::Window::set_tail`]).
    finishing: bool,
    /// The end is probed with a read at the announced size (the frontier
    /// is there) as soon as the window has room, beside the last hole reads
    /// instead of after them.
    probe_end: bool,
}

impl BurstDownload<'_, '_> {
    fn run(&mut self) -> Step<()> {
        let retries = self.f.conv.settings().retries.max(1);
        let mut stalls = 0u32;
        let mut probed = false;
        let mut asked = None;
        loop {
            let (started, from) = (Instant::now(), self.f.frontier);
            let end = self.burst_round(stalls, asked.take())?;
            let progressed = self.f.frontier > from;
            match end {
                RoundEnd::AtEnd => return self.finish(false),
                RoundEnd::NeedsConfirm => return self.finish(true),
                RoundEnd::AskedNext(next) => {
                    stalls = 0;
                    asked = Some(next);
                    continue;
                }
                RoundEnd::Early => self.reads_mid_round = true,
                RoundEnd::Stalled => {}
            }
            if self.f.eof.is_some_and(|e| e <= self.f.frontier) {
                return self.finish(true);
            }
            if progressed {
                stalls = 0;
            } else {
                stalls += 1;
                if stalls > retries {
                    let req = FtpPacket::request(Opcode::BurstReadFile, 0);
                    return Err(self.f.conv.timeout_error(&req).into());
                }
            }
            if progressed && !probed {
                probed = true;
                let arrived = (self.f.frontier - from).saturating_sub(self.f.missing());
                let burst_rate = arrived as f64 / started.elapsed().as_secs_f64();
                // Rounds asked early follow each other without a round
                // trip between them: they bring what a round streams at.
                let burst_rate = match self.stream_rate {
                    Some(streaming) if self.pipeline.is_on() => burst_rate.max(streaming),
                    _ => burst_rate,
                };
                // Timing reads drains the window (a round trip or two):
                // not worth it for a rest that bursts bring in quickly.
                let rest = self.f.size.saturating_sub(self.f.frontier) as f64;
                let worth = (self.f.conv.rto() * PROBE_WORTH_RTOS).as_secs_f64();
                if rest >= burst_rate * worth && self.reads_are_faster(burst_rate)? {
                    return self.finish(true);
                }
            }
        }
    }

    /// Send a BurstReadFile from `from` and remember it as the newest round.
    fn ask_round(&mut self, from: u64) -> Step<Asked> {
        if let Some(prev) = self.rounds.back()
            && prev.last.is_none()
        {
            // The last round did not end (a stall): it may still stream
            // (ArduPilot serves queued bursts in full). This round's seqs
            // start far enough apart that no packet fits both.
            let prev_seq = prev.seq;
            self.f
                .conv
                .saw_seq(prev_seq.wrapping_add(ROUND_SEQ_SPACING));
        }
        let mut req = FtpPacket::request(Opcode::BurstReadFile, self.f.conv.take_seq());
        req.session = self.f.session;
        req.offset = super::fetch::wire_offset(from)?;
        req.data = vec![0u8; MAX_DATA];
        self.f.conv.send(&req)?;
        if self.rounds.len() >= ROUNDS_KEPT {
            self.rounds.pop_front();
        }
        self.rounds.push_back(Round {
            seq: req.seq,
            start: from,
            chunk: None,
            last: None,
            highest: 0,
            poisoned: false,
        });
        trace!(
            "burst seq {} from {} ({} holes)",
            req.seq,
            from,
            self.f.holes.len()
        );
        Ok(Asked {
            seq: req.seq,
            at: Instant::now(),
        })
    }

    /// Ask the round after the current one now, before the current one
    /// ended (see [`RoundPipeline`]), if it is expected to end before the
    /// file does. The current round is then taken to end at its expected
    /// last packet.
    fn ask_next_round(&mut self, len: u64) -> Step<Option<Asked>> {
        let Some(current) = self.rounds.back_mut() else {
            return Ok(None);
        };
        let Some(chunk) = current.chunk else {
            return Ok(None);
        };
        let next_start = current.start + len * chunk;
        if next_start >= self.f.size {
            return Ok(None);
        }
        current.last = Some(len);
        // The next round's seqs go above the current round's last packet.
        let last_seq = current.seq.wrapping_add(len as u16);
        self.f.conv.saw_seq(last_seq);
        let asked = self.ask_round(next_start)?;
        trace!("burst seq {} asked before the round ended", asked.seq);
        self.asked_early = true;
        Ok(Some(asked))
    }

    /// One BurstReadFile from `high` (or the one already `asked` early),
    /// followed until it ends or stalls (the wait for its first packet
    /// backs off after `stalls` silent rounds), or until the next round is
    /// asked early.
    fn burst_round(&mut self, stalls: u32, asked: Option<Asked>) -> Step<RoundEnd> {
        let Asked {
            seq: burst_seq,
            at: sent,
        } = match asked {
            Some(asked) => asked,
            None => {
                self.asked_early = false;
                if !self.reads_mid_round {
                    // A read the server took after this request would move
                    // the burst of a server that shares one position.
                    self.drain_reads()?;
                }
                self.ask_round(self.f.frontier)?
            }
        };
        self.keepalive = None;
        self.unanswered = 0;
        let mut first_packet: Option<(Instant, u32)> = None;
        // The first packet of this round that arrived, and its number.
        let mut first_number: Option<(Instant, u64)> = None;
        let mut last_packet: Option<Instant> = None;
        // When new data of an earlier round last arrived: the link is busy
        // with our data, so this round is not stalled yet.
        let mut earlier_data: Option<Instant> = None;
        let mut interval: Option<Duration> = None;
        let mut packets = 0u32;
        loop {
            let quiet_limit = match (last_packet, interval) {
                (Some(_), Some(i)) => (i * STALL_INTERVALS).max(MIN_STALL),
                _ => self.f.conv.backed_off(self.f.conv.rto(), stalls),
            };
            let stall_at = last_packet.max(earlier_data).unwrap_or(sent) + quiet_limit;
            if Instant::now() >= stall_at {
                trace!(
                    "burst stalled at {} after {:?} quiet",
                    self.f.frontier, quiet_limit
                );
                self.pipeline.on_other_end();
                return Ok(RoundEnd::Stalled);
            }
            // Far from the end of a slow stream: packets are taken a few
            // at a time, up to the next keep-alive or stall at most.
            let far_from_end = self.f.size > self.f.frontier + 8 * MAX_DATA as u64;
            let linger = match interval {
                Some(i) if i >= LINGER_MIN_INTERVAL && far_from_end => {
                    let until = stall_at.min(Instant::now() + LINGER);
                    Some(self.keepalive_due().map_or(until, |due| until.min(due)))
                }
                _ => None,
            };
            let event = self.step(stall_at, Some(burst_seq), linger)?;
            if packets > 0 {
                self.keep_alive(Instant::now())?;
            }
            match event {
                Event::Other => {}
                Event::EarlierRoundData => earlier_data = Some(self.f.conv.last_received_at()),
                Event::BurstData {
                    number,
                    burst_complete,
                    short,
                    end,
                } => {
                    // When it arrived (it may have waited in the queue).
                    let now = self.f.conv.last_received_at();
                    if let Some(prev) = last_packet {
                        let gap = now.saturating_duration_since(prev);
                        interval = Some(interval.map_or(gap, |i| (i * 7 + gap) / 8));
                    }
                    last_packet = Some(now);
                    packets += 1;
                    if number == 1 {
                        self.pipeline
                            .on_first_packet(now.saturating_duration_since(sent));
                    }
                    if packets == 1 && self.asked_early && !self.predecessor_complete() {
                        trace!("the round before was cut short: rounds asked when they end");
                    }
                    let (t0, n0) = *first_packet.get_or_insert((now, packets));
                    let (t1, k1) = *first_number.get_or_insert((now, number));
                    if packets >= n0 + 8 {
                        // The link's delivery rate sizes the gap-fill window.
                        let rate = (packets - n0) as f64 / (now - t0).as_secs_f64().max(1e-6);
                        self.f.reads.assume_rate(rate);
                    }
                    if burst_complete {
                        let high = self.f.frontier;
                        trace!("burst complete at {end} (high {high})");
                        let size = self.f.size;
                        let at_size = size > 0 && end == high && high >= size;
                        let ending = if short && at_size {
                            RoundEnd::AtEnd
                        } else if short || at_size {
                            RoundEnd::NeedsConfirm
                        } else {
                            RoundEnd::Early
                        };
                        if matches!(ending, RoundEnd::Early) {
                            self.pipeline.on_early_end(number);
                            let chunk = self.rounds.back().and_then(|r| r.chunk);
                            let streamed = now.saturating_duration_since(t1).as_secs_f64();
                            if let Some(chunk) = chunk
                                && number > k1
                                && streamed > 0.0
                            {
                                self.stream_rate = Some(((number - k1) * chunk) as f64 / streamed);
                            }
                        } else {
                            self.pipeline.on_other_end();
                        }
                        return Ok(ending);
                    }
                    if let Some(interval) = interval
                        && let Some(len) = self.pipeline.round_len()
                        && self
                            .pipeline
                            .ask_next_at(interval)
                            .is_some_and(|at| number >= at)
                        && let Some(next) = self.ask_next_round(len)?
                    {
                        return Ok(RoundEnd::AskedNext(next));
                    }
                }
                Event::BurstEof { offset } => {
                    let (high, size) = (self.f.frontier, self.f.size);
                    trace!("burst EOF offset {offset} (high {high})");
                    let exact = size > 0 && u64::from(offset) == high && high == size;
                    return Ok(if exact {
                        RoundEnd::AtEnd
                    } else {
                        RoundEnd::NeedsConfirm
                    });
                }
            }
        }
    }

    /// For a round asked early, at its first packet: whether its
    /// predecessor brought its last packets (or all but one, a loss)
    /// before it; if not, the server cut it short and rounds are asked
    /// only when they end from now on (see [`RoundPipeline`]).
    fn predecessor_complete(&mut self) -> bool {
        let n = self.rounds.len();
        let Some(prev) = n.checked_sub(2).and_then(|i| self.rounds.get(i)) else {
            return true;
        };
        let Some(len) = prev.last else {
            return true;
        };
        self.pipeline.check_predecessor(prev.highest, len)
    }

    /// When the next keep-alive is due (see [`KEEPALIVE_AFTER`]): that
    /// long after we last sent anything (at once when holes wait for the
    /// server to show that reads leave its bursts alone), or
    /// [`KEEPALIVE_RETRY`] after an unanswered one; never after two
    /// unanswered in a row this round.
    fn keepalive_due(&self) -> Option<Instant> {
        let wait = match self.unanswered {
            // Holes wait for a server that has not shown that reads leave
            // its bursts alone: its answer would let them be read now.
            0 if !self.reads_mid_round && !self.f.holes.is_empty() => Duration::ZERO,
            0 => KEEPALIVE_AFTER,
            1 => KEEPALIVE_RETRY,
            _ => return None,
        };
        Some(self.f.conv.last_send() + wait)
    }

    /// Send a keep-alive if one is due (the round streams: called after
    /// its first packet).
    fn keep_alive(&mut self, now: Instant) -> Step<()> {
        if self.keepalive_due().is_none_or(|due| now < due) {
            return Ok(());
        }
        let quiet = now.saturating_duration_since(self.f.conv.last_send());
        let mut req = FtpPacket::request(Opcode::None, self.f.conv.take_seq());
        req.session = self.f.session;
        self.f.conv.send(&req)?;
        trace!("keep-alive seq {} after {quiet:?} quiet", req.seq);
        self.keepalive = Some(req.seq);
        self.unanswered += 1;
        Ok(())
    }

    /// Time a plain read of about as much as the last burst round brought;
    /// true when reads are clearly faster: the rest of the file is then a
    /// hole that the read window goes on filling. Both rates leave out loss
    /// recovery: the burst counts what arrived in its round, the reads the
    /// time to 90 % of their chunk.
    fn reads_are_faster(&mut self, burst_rate: f64) -> Step<bool> {
        let (high, size) = (self.f.frontier, self.f.size);
        let chunk = (high.min(size.saturating_sub(high) / 2) / MAX_DATA as u64) * MAX_DATA as u64;
        if chunk < 8 * MAX_DATA as u64 {
            return Ok(false);
        }
        // The holes the rounds left (and the reads in flight) are read
        // along with the chunk: reads are timed on all of it, and the link
        // does not idle while the holes drain first.
        let total = self.f.missing() + chunk;
        self.f.holes.insert(high, high + chunk);
        self.f.frontier = high + chunk;
        // Steady-state rate: from the first reply to 90 % of the reads (the
        // first round trip is paid once by reads, by bursts every round).
        let mut first_reply: Option<(Instant, u64)> = None;
        while self.f.missing() > total / 10 && self.f.eof.is_none() {
            self.step(Instant::now() + IDLE_WAKE, None, None)?;
            let missing = self.f.missing();
            if first_reply.is_none() && missing < total {
                first_reply = Some((Instant::now(), missing));
            }
        }
        let read_rate = first_reply.map_or(0.0, |(t, m)| {
            m.saturating_sub(self.f.missing()) as f64 / t.elapsed().as_secs_f64().max(1e-6)
        });
        trace!("probe: reads {read_rate:.0} B/s, burst {burst_rate:.0} B/s");
        // The open size was advisory (ArduPilot @PARAM): reads found the end.
        let faster = self.f.eof.is_some() || read_rate > burst_rate * READS_FASTER_FACTOR;
        let high = self.f.frontier;
        if faster && self.f.eof.is_none() && size > high {
            // The rest of the file becomes one hole, read by the same window
            // without draining it first (a drain costs a round trip or two).
            self.f.holes.insert(high, size);
            self.f.frontier = size;
        }
        // Not faster: the next burst is asked at once, and the reads still
        // in flight are answered while its request travels (a drain first
        // would leave the link idle for a round trip).
        Ok(faster)
    }

    /// Fill every hole, then confirm the end with a plain read from the
    /// frontier (which also fetches whatever a growing file gained) if asked
    /// to; when the announced size was reached, that read goes out with the
    /// last hole reads, and a late reply among them is asked again early
    /// (the tail of the transfer).
    fn finish(&mut self, confirm: bool) -> Step<()> {
        if self.stream_may_run() {
            self.mark_unsafe_reads();
        }
        // The read that confirms the end goes out with the last hole reads
        // (a round trip less at the end of every confirmed download) when
        // the announced size was reached; short of it, plain reads follow
        // the holes, and those reads are the tail.
        let to_confirm = confirm && self.f.eof.is_none();
        let at_size = self.f.size_is_real() && self.f.frontier >= self.f.size;
        self.probe_end = to_confirm && at_size;
        self.finishing = !to_confirm || at_size;
        let filled = self.fill_all_holes();
        self.finishing = false;
        self.probe_end = false;
        self.f.reads.set_tail(false);
        filled?;
        let end = self
            .f
            .eof
            .map_or(self.f.frontier, |e| e.min(self.f.frontier));
        if confirm || self.f.eof.is_some() {
            self.f.frontier = end;
            self.f.read_until_end()?;
        } else {
            self.f.truncate(end)?;
        }
        Ok(())
    }

    /// Process replies until no hole is left and no read is in flight.
    fn fill_all_holes(&mut self) -> Step<()> {
        while !self.f.holes.is_empty() || self.f.reads.in_flight() > 0 {
            self.step(Instant::now() + IDLE_WAKE, None, None)?;
        }
        Ok(())
    }

    /// Process replies, asking nothing more, until no read is in flight.
    fn drain_reads(&mut self) -> Step<()> {
        self.hold_reads = true;
        let drained = (|| {
            while self.f.reads.in_flight() > 0 {
                self.step(Instant::now() + IDLE_WAKE, None, None)?;
            }
            Ok(())
        })();
        self.hold_reads = false;
        drained
    }

    /// Whether a read now may meet a burst still streaming from a server
    /// that has not shown its reads leave its bursts alone: the newest
    /// round stalled (it did not end) and none ended early, and no
    /// keep-alive was answered.
    fn stream_may_run(&self) -> bool {
        !self.reads_mid_round && self.rounds.back().is_some_and(|r| r.last.is_none())
    }

    /// Holes are read while an unproven server's stalled burst may still
    /// stream: the packets of every round that did not end are dropped
    /// from now on, and the download is verified with the server's CRC32.
    fn mark_unsafe_reads(&mut self) {
        for r in self.rounds.iter_mut().filter(|r| r.last.is_none()) {
            r.poisoned = true;
        }
        if !self.f.verify {
            trace!("holes read after a stalled burst of an unproven server: CRC check at the end");
            self.f.verify = true;
        }
    }

    /// Ask for holes while the read window has room, wait for one packet
    /// (until `until` at most) and handle it. With `linger` (a slow burst,
    /// see [`LINGER`]) and nothing to read, the packets that arrive until
    /// then are taken with one wake-up.
    fn step(
        &mut self,
        until: Instant,
        burst_seq: Option<u16>,
        linger: Option<Instant>,
    ) -> Step<Event> {
        self.f.conv.check_cancel()?;
        let may_read = !self.hold_reads && (burst_seq.is_none() || self.reads_mid_round);
        if may_read {
            let before = self.f.reads.in_flight();
            self.f.request_reads(self.probe_end)?;
            if self.finishing {
                // Nothing more to ask: a late reply is not waited for.
                let tail = self.f.holes.is_empty() && self.f.reads.has_room();
                self.f.reads.set_tail(tail);
            }
            if self.f.reads.in_flight() > before && self.stream_may_run() {
                self.mark_unsafe_reads();
            }
        }
        let mut wake = until;
        if self.f.reads.in_flight() > 0 {
            wake = wake.min(self.f.reads.resend_overdue(self.f.conv)?);
        }
        let received = match linger {
            Some(linger)
                if self.f.reads.in_flight() == 0 && (self.f.holes.is_empty() || !may_read) =>
            {
                self.f.conv.recv_lingering(linger.min(wake))?
            }
            _ => self.f.conv.recv(wake, true)?,
        };
        let Some(p) = received else {
            return Ok(Event::Other);
        };
        self.f.check_taken()?;
        if p.req_opcode == Opcode::None {
            // The answer to a keep-alive (ACK, or NAK from a server that
            // does not know opcode 0): nothing to use but the fact.
            if self
                .keepalive
                .is_some_and(|seq| p.seq == seq.wrapping_add(1))
            {
                self.unanswered = 0;
                if !self.reads_mid_round {
                    trace!("keep-alive answered: holes are read while rounds stream");
                    self.reads_mid_round = true;
                }
            }
            return Ok(Event::Other);
        }
        if p.req_opcode == Opcode::BurstReadFile {
            return self.on_burst_packet(p, burst_seq);
        }
        if let Some((tag, reply)) = self.f.reads.accept(self.f.conv, p) {
            self.f.on_read_reply(tag, reply)?;
        }
        Ok(Event::Other)
    }

    /// A burst packet: data of any of our recent rounds of this session is
    /// kept if its (seq, offset) fit that round; only the current round
    /// (seq after `burst_seq`) drives the round.
    fn on_burst_packet(&mut self, p: FtpPacket, burst_seq: Option<u16>) -> Step<Event> {
        if p.session != self.f.session || p.data.len() > MAX_DATA {
            return Ok(Event::Other);
        }
        let current = burst_seq.is_some_and(|s| {
            let d = p.seq.wrapping_sub(s);
            d != 0 && d < 0x8000
        });
        if current && (p.burst_complete || p.opcode == Opcode::Nak) {
            // bc=1 ends a round; so does its NAK (PX4 leaves bc undefined there).
            if let Some(r) = self.rounds.back_mut() {
                let k = r.packet_number(p.seq);
                let k = if p.opcode == Opcode::Nak {
                    k.saturating_sub(1)
                } else {
                    k
                };
                r.last = Some(r.last.map_or(k, |l| l.min(k)));
            }
        }
        if p.opcode == Opcode::Nak {
            if !current {
                return Ok(Event::Other);
            }
            // The server used this seq: later requests go above it.
            self.f.conv.saw_seq(p.seq);
            if is_nak(&p, NakCode::Eof) {
                return Ok(Event::BurstEof { offset: p.offset });
            }
            if session_gone(&p) {
                return Err(Halt::SessionLost(format!(
                    "burst answered NAK {:?}",
                    p.nak_code()
                )));
            }
            let what = format!("burst read at offset {}", self.f.frontier);
            return Err(nak_to_error(&p, &what).into());
        }
        let (offset, len) = (u64::from(p.offset), p.data.len() as u64);
        // Which round it fits, counted from the newest (0).
        let fits = self
            .rounds
            .iter_mut()
            .rev()
            .position(|r| r.admits(p.seq, offset, len));
        if len > 0 && fits.is_none() {
            trace!(
                "burst packet seq {} offset {} fits none of our rounds: dropped",
                p.seq, p.offset
            );
            return Ok(Event::Other);
        }
        let poisoned = fits.is_some_and(|i| self.rounds[self.rounds.len() - 1 - i].poisoned);
        if poisoned {
            // Its bytes may come from where one of our reads left off.
            self.f.conv.saw_seq(p.seq);
            return Ok(Event::Other);
        }
        // Ours (it fits a round, or is the current round's): later requests
        // go above its seq. Other packets are not followed (see the window).
        self.f.conv.saw_seq(p.seq);
        let end = offset + len;
        if len > 0 {
            // The round before one asked early still streams its last
            // packets: like the current one, it may leave holes behind.
            let streaming = current || (self.asked_early && fits == Some(1));
            let fresh = self.store_burst_data(offset, &p.data, streaming)?;
            if fresh && !current {
                return Ok(Event::EarlierRoundData);
            }
        }
        if !current {
            return Ok(Event::Other);
        }
        let number = self.rounds.back().map_or(0, |r| r.packet_number(p.seq));
        Ok(Event::BurstData {
            number,
            burst_complete: p.burst_complete,
            short: p.data.len() < MAX_DATA,
            end,
        })
    }

    /// Keep burst data that fills a hole, overtakes a read in flight or
    /// extends the frontier (leaving a hole when it jumps ahead; only a
    /// `streaming` round, the current one or the one before a round asked
    /// early, may jump); true if it was kept.
    fn store_burst_data(&mut self, a: u64, data: &[u8], streaming: bool) -> Step<bool> {
        let b = a + data.len() as u64;
        if self.f.eof.is_some_and(|e| a >= e) {
            return Ok(false);
        }
        let high = self.f.frontier;
        let mut fresh = false;
        if a < high {
            fresh |= self.f.holes.cut(a, b.min(high));
            if self.f.reads.any(|&(o, n)| o >= a && o + u64::from(n) <= b) {
                self.f
                    .reads
                    .drop_where(|&(o, n)| o >= a && o + u64::from(n) <= b);
                fresh = true;
            }
        }
        if b > high && (streaming || a <= high) {
            if a > high {
                trace!("hole {high}..{a}");
                self.f.holes.insert(high, a);
            }
            self.f.frontier = b;
            fresh = true;
        }
        if fresh {
            self.f.store(a, data)?;
            self.f.report_progress();
        }
        Ok(fresh)
    }
}
