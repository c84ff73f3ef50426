//! The round-trip estimate of one client (RFC 6298 style): a smoothed RTT
//! and its variation give the retransmission timeout; waits double per try
//! while the link is silent, bounded so that timeout × retries bounds a
//! silence. Pure logic, no I/O.

use std::time::Duration;

/// Shortest RTO (scheduling jitter on a busy host).
pub(crate) const MIN_RTO: Duration = Duration::from_millis(20);
/// Smallest variation term added to the smoothed RTT.
const MIN_VAR_TERM: Duration = Duration::from_millis(10);
/// Most doublings of a wait.
const MAX_SHIFT: u32 = 5;

/// Smoothed RTT and variation, fed with first transmissions only (Karn).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl RttEstimator {
    /// No sample yet: the RTO is the configured timeout.
    pub fn new() -> RttEstimator {
        RttEstimator::default()
    }

    /// The smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Feed the RTT of a reply to a request sent `tries + 1` times. Only
    /// first transmissions are sampled (Karn's rule: the reply to a resent
    /// request may answer any of its copies). Returns whether it was taken.
    pub fn on_reply(&mut self, tries: u32, rtt: Duration) -> bool {
        if tries > 0 {
            return false;
        }
        self.sample(rtt);
        true
    }

    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// Retransmission timeout: `base` (the configured timeout) until the
    /// first sample, then SRTT + 4 RTTVAR, between 20 ms and 4 × base.
    pub fn rto(&self, base: Duration) -> Duration {
        match self.srtt {
            None => base,
            Some(srtt) => {
                let rto = srtt + (self.rttvar * 4).max(MIN_VAR_TERM);
                rto.clamp(MIN_RTO, base.max(MIN_RTO) * 4)
            }
        }
    }

    /// The wait before try `shift + 1` of a request: `rto` doubled per
    /// `shift` (at most 5 doublings), but never beyond twice the configured
    /// timeout `base` (or `rto`, if that is longer), so that retries ×
    /// timeout bounds a silence.
    pub fn backed_off(rto: Duration, shift: u32, base: Duration) -> Duration {
        let cap = rto.max(base * 2);
        (rto * (1u32 << shift.min(MAX_SHIFT))).min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rto_is_the_configured_timeout_until_the_first_sample() {
        let e = RttEstimator::new();
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rto(500 * MS), 500 * MS);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_variation() {
        let mut e = RttEstimator::new();
        assert!(e.on_reply(0, 100 * MS));
        assert_eq!(e.srtt(), Some(100 * MS));
        // 100 + 4 × 50
        assert_eq!(e.rto(500 * MS), 300 * MS);
    }

    #[test]
    fn karn_resent_requests_give_no_sample() {
        let mut e = RttEstimator::new();
        assert!(!e.on_reply(1, 900 * MS));
        assert!(!e.on_reply(3, 900 * MS));
        assert_eq!(e.srtt(), None);
        assert!(e.on_reply(0, 10 * MS));
        assert!(!e.on_reply(2, 900 * MS));
        assert_eq!(e.srtt(), Some(10 * MS));
    }

    #[test]
    fn smoothing_follows_rfc6298_gains() {
        let mut e = RttEstimator::new();
        e.on_reply(0, 80 * MS);
        e.on_reply(0, 160 * MS);
        // srtt = 7/8 × 80 + 1/8 × 160 = 90; rttvar = 3/4 × 40 + 1/4 × 80 = 50
        assert_eq!(e.srtt(), Some(90 * MS));
        assert_eq!(e.rto(Duration::from_secs(1)), 290 * MS);
    }

    #[test]
    fn rto_is_clamped_between_20_ms_and_four_timeouts() {
        let mut fast = RttEstimator::new();
        for _ in 0..50 {
            fast.on_reply(0, Duration::from_micros(50));
        }
        assert_eq!(fast.rto(500 * MS), 20 * MS);
        let mut slow = RttEstimator::new();
        slow.on_reply(0, Duration::from_secs(10));
        assert_eq!(slow.rto(500 * MS), 2000 * MS);
        // A timeout below the floor still allows the floor.
        assert_eq!(slow.rto(MS), 80 * MS);
    }

    #[test]
    fn backoff_doubles_up_to_twice_the_timeout() {
        let base = 500 * MS;
        let rto = 100 * MS;
        let waits: Vec<_> = (0..8)
            .map(|s| RttEstimator::backed_off(rto, s, base))
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1000, 1000, 1000, 1000].map(|m| m * MS)
        );
    }

    #[test]
    fn backoff_never_shortens_a_long_rto_and_saturates_its_shift() {
        let base = 100 * MS;
        assert_eq!(RttEstimator::backed_off(400 * MS, 3, base), 400 * MS);
        // Huge shifts neither overflow nor exceed the cap.
        assert_eq!(
            RttEstimator::backed_off(MS, u32::MAX, Duration::from_secs(60)),
            32 * MS
        );
    }
}
