//! How many file sessions a client's workers hold at once on one server.
//!
//! With `parallel` above 1 several transfers of one client run at once,
//! each on its own session. Servers differ (docs/PROTOCOL_NOTES.md §5): ours
//! and ArduPilot since mid-2025 keep several sessions and echo the id asked
//! for; PX4 and the MAVSDK server have one, always id 0 (a second open on
//! MAVSDK's silently replaces the first file); ArduPilot before mid-2025
//! has one and echoes the id, refusing others with InvalidSession.
//!
//! So the gate lets one open through while it does not know the server.
//! An ACK that echoes our id opens the gate to `parallel`; an ACK with
//! another id (the server picks ids: PX4, MAVSDK) closes it to one. An open
//! refused as busy (NoSessionsAvailable, InvalidSession, or ArduPilot's
//! Fail) while this client holds other sessions sets the limit to what it
//! holds, and the open waits for one of them to end instead of failing.

use std::sync::Arc;

use parking_lot::Mutex;

/// The limit learnt for the current target.
#[derive(Default)]
struct GateState {
    target: (u8, u8),
    /// Sessions this client's workers hold (or are opening).
    held: usize,
    /// The most the server takes; None while unknown.
    cap: Option<usize>,
    /// An open whose answer will show the server's kind is under way.
    probing: bool,
}

/// Shared by a client's workers (lives in its `Control`).
#[derive(Default)]
pub(crate) struct SessionGate {
    state: Arc<Mutex<GateState>>,
}

/// A place in the gate, given back on drop.
pub(crate) struct GateSlot {
    state: Arc<Mutex<GateState>>,
    probing: bool,
}

impl SessionGate {
    fn retarget(s: &mut GateState, target: (u8, u8)) {
        if s.target != target {
            s.target = target;
            s.cap = None;
            s.probing = false;
        }
    }

    /// Whether an open to `target` could start now.
    pub fn has_room(&self, target: (u8, u8)) -> bool {
        let mut s = self.state.lock();
        Self::retarget(&mut s, target);
        match s.cap {
            Some(cap) => s.held < cap,
            None => !s.probing,
        }
    }

    /// A place for one more session to `target`, if there is one now.
    pub fn try_acquire(&self, target: (u8, u8)) -> Option<GateSlot> {
        let mut s = self.state.lock();
        Self::retarget(&mut s, target);
        let probing = match s.cap {
            Some(cap) if s.held < cap => false,
            Some(_) => return None,
            None if s.probing => return None,
            None => {
                s.probing = true;
                true
            }
        };
        s.held += 1;
        Some(GateSlot {
            state: Arc::clone(&self.state),
            probing,
        })
    }

    /// Sessions held by this client now.
    pub fn held(&self) -> usize {
        self.state.lock().held
    }

    /// The most sessions learnt for the current target (None: unknown).
    #[cfg(test)]
    pub fn cap(&self) -> Option<usize> {
        self.state.lock().cap
    }
}

impl GateSlot {
    /// The open was acknowledged; `echoed`: with the id asked for.
    pub fn opened(&mut self, echoed: bool) {
        let mut s = self.state.lock();
        if self.probing {
            self.probing = false;
            s.probing = false;
            if s.cap.is_none() {
                s.cap = Some(if echoed { usize::MAX } else { 1 });
            }
        } else if !echoed {
            // A server that picks ids itself serves one session at a time.
            s.cap = Some(1);
        }
    }

    /// The server refused the open as busy while `others` sessions of this
    /// client were open: it takes no more than those.
    pub fn refused(&mut self, others: usize) {
        let mut s = self.state.lock();
        let cap = others.max(1);
        s.cap = Some(s.cap.map_or(cap, |c| c.min(cap)));
        if self.probing {
            self.probing = false;
            s.probing = false;
        }
    }
}

impl Drop for GateSlot {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        s.held = s.held.saturating_sub(1);
        if self.probing {
            s.probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: (u8, u8) = (1, 1);

    #[test]
    fn one_open_at_a_time_until_the_server_shows_its_kind() {
        let gate = SessionGate::default();
        let mut first = gate.try_acquire(T).expect("first");
        assert!(gate.try_acquire(T).is_none(), "second while probing");
        first.opened(true);
        let a = gate.try_acquire(T).expect("echoing server: more");
        let b = gate.try_acquire(T).expect("echoing server: more");
        assert_eq!(gate.held(), 3);
        drop((a, b, first));
        assert_eq!(gate.held(), 0);
    }

    #[test]
    fn a_server_that_picks_ids_gets_one_session() {
        let gate = SessionGate::default();
        let mut first = gate.try_acquire(T).expect("first");
        first.opened(false);
        assert_eq!(gate.cap(), Some(1));
        assert!(gate.try_acquire(T).is_none());
        drop(first);
        assert!(gate.try_acquire(T).is_some());
    }

    #[test]
    fn a_busy_refusal_limits_to_what_is_held() {
        let gate = SessionGate::default();
        let mut first = gate.try_acquire(T).expect("first");
        first.opened(true);
        let _b = gate.try_acquire(T).expect("b");
        let mut c = gate.try_acquire(T).expect("c");
        c.refused(2);
        drop(c);
        assert_eq!(gate.cap(), Some(2));
        assert!(gate.try_acquire(T).is_none(), "two held, cap two");
        drop(first);
        assert!(gate.try_acquire(T).is_some());
    }

    #[test]
    fn a_failed_probe_lets_the_next_open_probe() {
        let gate = SessionGate::default();
        let first = gate.try_acquire(T).expect("first");
        drop(first);
        assert_eq!(gate.cap(), None);
        assert!(gate.try_acquire(T).is_some());
    }
}
