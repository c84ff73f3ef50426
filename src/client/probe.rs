//! The queue probe: finds out whether a server drops requests beyond a small
//! queue (ArduPilot queues 5 and silently drops the rest) once a read or
//! write window grows past it. Pure logic over a window's counters.

use super::trace::trace;

/// Loss accounting of a window.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Requests sent (first transmissions).
    pub sent: u64,
    pub resends: u64,
    /// Resends of requests already resent before.
    pub repeats: u64,
    pub replies: u64,
}

/// What the probe needs to know about a window after a reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowView {
    pub counts: Counts,
    /// Requests awaiting a reply.
    pub in_flight: usize,
    /// Serial (0-based count of first transmissions) of the oldest request
    /// still in flight.
    pub oldest_in_flight: Option<u64>,
}

/// Finds out whether a server drops requests beyond a small queue
/// (ArduPilot queues 5 and silently drops the rest) once a read or write
/// window grows past it. The window opens to its cap and the loss is measured in
/// spans of replies; a span with severe loss, or requests lost again and
/// again, triggers a check at the safe depth: if the loss
/// vanishes there, the server drops what exceeds its queue and the window
/// stays at [`QueueProbe::SAFE`]; if not, the link itself is lossy and the
/// window reopens with that loss as the new baseline.
#[derive(Clone, Copy)]
pub(crate) struct QueueProbe {
    phase: ProbePhase,
    /// Window counts when the current span began (None: not counting yet).
    from: Option<Counts>,
}

#[derive(Clone, Copy)]
enum ProbePhase {
    /// Open, comparing each span's loss with `base` (the link's own loss).
    Open { base: f64 },
    /// Held at the safe depth after an open span lost `loss` with
    /// `repeats` requests lost more than once; measures once every request
    /// sent before (`after`, a serial) is answered.
    Check { loss: f64, repeats: u64, after: u64 },
    /// The server drops beyond the safe depth: held there.
    Limited,
}

impl QueueProbe {
    /// Requests a server is assumed to queue without dropping.
    pub const SAFE: usize = 5;
    /// Replies per measured open span.
    const SPAN: u64 = 64;
    /// Replies measured at the safe depth in a check.
    const CHECK_SPAN: u64 = 32;
    /// Requests resent twice or more within a span that mean drops, not
    /// random loss (at 2 % loss each way that is ~0.2 % of requests).
    const REPEATS: u64 = 3;
    /// Loss rate above the link's own that counts as severe.
    const SEVERE_LOSS: f64 = 0.2;

    /// A probe that goes on from where the last transfer to the same server
    /// left it, if any.
    pub fn resume(saved: Option<QueueProbe>) -> QueueProbe {
        let mut probe = saved.unwrap_or(QueueProbe {
            phase: ProbePhase::Open { base: 0.0 },
            from: None,
        });
        // Counts and serials belong to the last transfer's window.
        probe.from = None;
        if let ProbePhase::Check { after, .. } = &mut probe.phase {
            *after = 0;
        }
        probe
    }

    /// The window limit for the current phase.
    pub fn limit(&self) -> Option<usize> {
        match self.phase {
            ProbePhase::Check { .. } | ProbePhase::Limited => Some(Self::SAFE),
            ProbePhase::Open { .. } => None,
        }
    }

    /// Feed the window's state after a reply; the window applies
    /// [`Self::limit`].
    pub fn update(&mut self, win: WindowView) {
        let now = win.counts;
        let from = match (self.phase, self.from) {
            (ProbePhase::Limited, _) => return,
            (_, Some(from)) => from,
            // Open spans count only once the window is past the safe depth,
            // checks once the open window's requests are all answered.
            (ProbePhase::Open { .. }, None) if win.in_flight <= Self::SAFE + 1 => return,
            (ProbePhase::Check { after, .. }, None)
                if win.oldest_in_flight.is_some_and(|o| o < after) =>
            {
                return;
            }
            (_, None) => {
                self.from = Some(now);
                return;
            }
        };
        let replies = now.replies - from.replies;
        let repeats = now.repeats - from.repeats;
        let loss = (now.resends - from.resends) as f64 / replies.max(1) as f64;
        // Severe loss only: a few percent (random link loss, or a mild
        // overflow the resends absorb) is not worth a narrower window.
        let severe = |loss: f64, repeats: u64, base: f64| {
            loss > 2.0 * base + Self::SEVERE_LOSS || repeats >= Self::REPEATS
        };
        let next = match self.phase {
            ProbePhase::Open { base }
                if repeats >= Self::REPEATS
                    || (replies >= Self::SPAN && severe(loss, repeats, base)) =>
            {
                ProbePhase::Check {
                    loss,
                    repeats,
                    after: now.sent,
                }
            }
            ProbePhase::Open { .. } if replies >= Self::SPAN => self.phase,
            ProbePhase::Check {
                loss: open_loss,
                repeats: open_repeats,
                ..
            } if replies >= Self::CHECK_SPAN => {
                let safe_is_clean = repeats == 0 && loss <= Self::SEVERE_LOSS / 2.0;
                if safe_is_clean && severe(open_loss, open_repeats, loss) {
                    ProbePhase::Limited
                } else {
                    ProbePhase::Open { base: loss }
                }
            }
            _ => return,
        };
        self.phase = next;
        trace!(
            "queue probe: loss {loss:.3}, {repeats} repeated over {replies} replies, limit {:?}",
            self.limit()
        );
        self.from = match self.phase {
            ProbePhase::Open { .. } | ProbePhase::Check { .. } => None,
            ProbePhase::Limited => Some(now),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window of `in_flight` requests whose oldest is `oldest`.
    fn view(sent: u64, resends: u64, repeats: u64, replies: u64, in_flight: usize) -> WindowView {
        WindowView {
            counts: Counts {
                sent,
                resends,
                repeats,
                replies,
            },
            in_flight,
            oldest_in_flight: Some(sent - in_flight as u64),
        }
    }

    /// Open the probe's span at a wide window (counting starts).
    fn counting(p: &mut QueueProbe) {
        p.update(view(100, 0, 0, 0, 20));
    }

    #[test]
    fn starts_open_and_ignores_windows_within_the_safe_depth() {
        let mut p = QueueProbe::resume(None);
        assert_eq!(p.limit(), None);
        for replies in 0..200 {
            // Heavy loss, but never more than SAFE + 1 in flight: no span.
            p.update(view(
                1000,
                replies * 3,
                replies,
                replies,
                QueueProbe::SAFE + 1,
            ));
        }
        assert_eq!(p.limit(), None);
    }

    #[test]
    fn a_clean_open_span_stays_open() {
        let mut p = QueueProbe::resume(None);
        counting(&mut p);
        p.update(view(164, 2, 0, 64, 20));
        assert_eq!(p.limit(), None);
    }

    #[test]
    fn severe_loss_that_vanishes_at_the_safe_depth_limits_the_window() {
        let mut p = QueueProbe::resume(None);
        counting(&mut p);
        // 64 replies with 25 resends: 39 % loss.
        p.update(view(164, 25, 0, 64, 20));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE), "checking at depth 5");
        // Requests sent before the check (serials < 164) still in flight: no span yet.
        p.update(view(170, 25, 0, 70, 10));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE));
        // All answered: the check span starts, then 32 clean replies.
        p.update(view(200, 25, 0, 100, 5));
        p.update(view(232, 25, 0, 132, 5));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE), "limited for good");
        // A limited probe ignores everything after.
        p.update(view(900, 900, 900, 900, 5));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE));
    }

    #[test]
    fn loss_that_stays_at_the_safe_depth_is_the_links_and_reopens() {
        let mut p = QueueProbe::resume(None);
        counting(&mut p);
        p.update(view(164, 25, 0, 64, 20));
        p.update(view(200, 25, 0, 100, 5));
        // 32 replies at depth 5 with 12 resends: the link loses as much.
        p.update(view(232, 37, 0, 132, 5));
        assert_eq!(p.limit(), None, "reopened with the link's loss as base");
        // The same loss again in an open span is now the baseline: open.
        p.update(view(300, 37, 0, 150, 20));
        p.update(view(400, 37 + 24, 0, 150 + 64, 20));
        assert_eq!(p.limit(), None);
    }

    #[test]
    fn requests_lost_again_and_again_trigger_a_check_before_a_full_span() {
        let mut p = QueueProbe::resume(None);
        counting(&mut p);
        p.update(view(110, 3, QueueProbe::REPEATS, 10, 20));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE));
    }

    #[test]
    fn resume_keeps_the_phase_but_not_the_old_windows_serials() {
        let mut p = QueueProbe::resume(None);
        counting(&mut p);
        p.update(view(164, 25, 0, 64, 20));
        assert_eq!(p.limit(), Some(QueueProbe::SAFE));
        // The next transfer's window numbers its requests from 0 again:
        // the check must be able to start there.
        let mut next = QueueProbe::resume(Some(p));
        assert_eq!(next.limit(), Some(QueueProbe::SAFE));
        next.update(view(3, 0, 0, 0, 3));
        next.update(view(35, 0, 0, 32, 3));
        assert_eq!(next.limit(), Some(QueueProbe::SAFE));
        let limited = QueueProbe::resume(Some(next));
        assert_eq!(limited.limit(), Some(QueueProbe::SAFE));
    }
}
