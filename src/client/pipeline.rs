//! Pipelined burst rounds. Some servers end every burst round after the
//! same number of packets, long before the end of the file (MAVSDK 4.1's
//! server: 150 packets, then burst_complete). A client that asks for the
//! next round only when that packet arrives leaves the link idle for a
//! round trip per round: at 92 160 B/s that is 45 ms of every 480.
//!
//! Once a round has ended early, the next rounds are asked while the
//! current one still streams, `m` packets before its expected end, where
//! `m` packet intervals fit in the shortest time from a request to its
//! first packet. The request then reaches the server after the server sent
//! the round's last packet, however fast the server sends: a server that
//! paces its packets at the observed interval sends the last `m` in less
//! than a round trip, and one that sends faster (its packets queueing on
//! the way) has finished earlier still. If a round asked early finds its
//! predecessor cut short all the same (a server whose rounds vary), the
//! pipeline is switched off for the rest of the download: the missing
//! packets are holes, which reads fill.
//!
//! Pure logic over what the burst saw; the burst download acts on it.

use std::time::Duration;

/// Decides when the next burst round is asked (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RoundPipeline {
    /// Packets per round, when the latest round ended early
    /// (burst_complete before the end of the file).
    round_len: Option<u64>,
    /// Shortest time from a BurstReadFile to its first packet.
    first_packet_rtt: Option<Duration>,
    /// A round asked early found its predecessor cut short: off for good.
    off: bool,
}

impl RoundPipeline {
    /// A round's first packet arrived `rtt` after its request.
    pub fn on_first_packet(&mut self, rtt: Duration) {
        self.first_packet_rtt = Some(self.first_packet_rtt.map_or(rtt, |r| r.min(rtt)));
    }

    /// The current round ended early, its last packet being number `last`.
    pub fn on_early_end(&mut self, last: u64) {
        self.round_len = Some(last);
    }

    /// Packets per round, if the latest round ended early.
    pub fn round_len(&self) -> Option<u64> {
        self.round_len
    }

    /// The current round ended any other way (a stall, the end of the
    /// file): its length says nothing about the next one.
    pub fn on_other_end(&mut self) {
        self.round_len = None;
    }

    /// Number of the packet of the current round on whose arrival the next
    /// round is asked, with packets arriving `interval` apart; None when
    /// the next round is asked only once this one ended.
    pub fn ask_next_at(&self, interval: Duration) -> Option<u64> {
        let (len, rtt) = (self.round_len?, self.first_packet_rtt?);
        if self.off || interval.is_zero() {
            return None;
        }
        // One interval of margin for jitter in either estimate.
        let ahead = (rtt.as_secs_f64() / interval.as_secs_f64()).floor() as u64;
        let ahead = ahead.saturating_sub(1).min(len / 2);
        (ahead >= 1).then(|| len - ahead)
    }

    /// Whether rounds are being asked early (so a round's rate is what
    /// its packets stream at, without a round trip between rounds).
    pub fn is_on(&self) -> bool {
        !self.off && self.round_len.is_some() && self.first_packet_rtt.is_some()
    }

    /// A round asked early saw its first packet when the highest packet
    /// seen of its predecessor (of `len` packets) was number `highest`.
    /// Returns false (and switches the pipeline off) if the predecessor
    /// was cut short: more than one of its last packets never came.
    pub fn check_predecessor(&mut self, highest: u64, len: u64) -> bool {
        if highest + 1 < len {
            self.off = true;
        }
        !self.off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_is_asked_early_before_a_round_ended_early_and_a_first_packet_was_timed() {
        let mut p = RoundPipeline::default();
        assert_eq!(p.ask_next_at(ms(3)), None);
        p.on_first_packet(ms(45));
        assert_eq!(p.ask_next_at(ms(3)), None, "no round length yet");
        assert!(!p.is_on());
        p.on_early_end(150);
        assert!(p.is_on());
        // 45 ms / 3 ms = 15 packets of round trip, one of margin.
        assert_eq!(p.ask_next_at(ms(3)), Some(150 - 14));
    }

    #[test]
    fn the_shortest_round_trip_counts() {
        let mut p = RoundPipeline::default();
        p.on_early_end(150);
        p.on_first_packet(ms(90));
        p.on_first_packet(ms(30));
        p.on_first_packet(ms(60));
        assert_eq!(p.ask_next_at(ms(3)), Some(150 - 9));
    }

    #[test]
    fn a_round_trip_shorter_than_two_intervals_gains_nothing() {
        let mut p = RoundPipeline::default();
        p.on_early_end(150);
        p.on_first_packet(ms(5));
        assert_eq!(p.ask_next_at(ms(3)), None);
        assert_eq!(p.ask_next_at(Duration::ZERO), None);
    }

    #[test]
    fn never_more_than_half_a_round_ahead() {
        let mut p = RoundPipeline::default();
        p.on_early_end(10);
        p.on_first_packet(ms(500));
        assert_eq!(p.ask_next_at(ms(3)), Some(5));
    }

    #[test]
    fn a_round_that_ended_otherwise_stops_the_pipeline_until_the_next_early_end() {
        let mut p = RoundPipeline::default();
        p.on_first_packet(ms(45));
        p.on_early_end(150);
        p.on_other_end();
        assert_eq!(p.ask_next_at(ms(3)), None);
        p.on_early_end(100);
        assert_eq!(p.ask_next_at(ms(3)), Some(100 - 14));
    }

    #[test]
    fn a_predecessor_cut_short_switches_the_pipeline_off_for_good() {
        let mut p = RoundPipeline::default();
        p.on_first_packet(ms(45));
        p.on_early_end(150);
        // One lost last packet is a loss, not a cut.
        assert!(p.check_predecessor(149, 150));
        assert!(p.check_predecessor(150, 150));
        assert!(!p.check_predecessor(140, 150));
        assert!(!p.is_on());
        p.on_early_end(150);
        assert_eq!(p.ask_next_at(ms(3)), None);
        assert!(!p.check_predecessor(150, 150));
    }
}
