//! State shared between a `Client` handle and the
//! operations running on its worker: cancellation, the last error and the
//! settings (the job queue itself is in `worker`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::link::ReplyInterrupter;
use crate::result::{FtpError, LastError};

/// Default cap on ReadFile requests in flight.
pub(crate) const DEFAULT_READ_WINDOW: usize = 64;
/// Default cap on WriteFile requests in flight (the window starts at 5 and
/// goes beyond only for servers that do not drop what exceeds that).
pub(crate) const DEFAULT_WRITE_WINDOW: usize = 32;

/// Cancellation, last error and settings of one client.
pub(crate) struct Control {
    /// Bumped by cancel(): operations started before see the change.
    pub cancel_gen: AtomicU64,
    pub stopping: AtomicBool,
    pub last_error: LastError,
    pub settings: Mutex<Settings>,
    /// Held while the application is called back (progress, completion,
    /// streamed data): a client's callbacks never run at the same time.
    pub callbacks: parking_lot::Mutex<()>,
    /// How many file sessions the workers may hold at once on the target.
    pub sessions: super::parallel::SessionGate,
    /// Wake the workers' waits for a reply (one per worker conversation),
    /// so that they see a cancel at once.
    pub reply_wake: parking_lot::Mutex<Vec<ReplyInterrupter>>,
}

/// Per-client settings. Operations take a copy when they start; none writes them.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub timeout: Duration,
    pub retries: u32,
    pub target_system: u8,
    pub target_component: u8,
    /// Most ReadFile requests in flight.
    pub read_window: usize,
    /// Most WriteFile requests in flight (ArduPilot queues 5, drops the rest).
    pub write_window: usize,
    /// Most operations run at once (each on its own worker and server
    /// session); 1 runs them one at a time in submission order.
    pub parallel: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_millis(500),
            retries: 10,
            target_system: 0,
            target_component: 1,
            read_window: DEFAULT_READ_WINDOW,
            write_window: DEFAULT_WRITE_WINDOW,
            parallel: 1,
        }
    }
}

impl Control {
    /// Fresh state for a client of (target_system, target_component).
    pub fn new(target_system: u8, target_component: u8) -> Control {
        Control {
            cancel_gen: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            last_error: LastError::default(),
            settings: Mutex::new(Settings {
                target_system,
                target_component,
                ..Settings::default()
            }),
            callbacks: parking_lot::Mutex::new(()),
            sessions: super::parallel::SessionGate::default(),
            reply_wake: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// Cancel the running and queued operations (see `cancelled_since`)
    /// and wake the waits for a reply.
    pub fn cancel(&self) {
        self.cancel_gen.fetch_add(1, Ordering::SeqCst);
        self.wake_reply_wait();
    }

    /// Register a worker conversation's wait (see [`Control::wake_reply_wait`]);
    /// the handles of conversations gone are dropped on the way.
    pub fn add_reply_wake(&self, wake: ReplyInterrupter) {
        let mut list = self.reply_wake.lock();
        list.retain(ReplyInterrupter::is_live);
        list.push(wake);
    }

    /// Wake every worker that waits for a reply (a spurious wake-up costs a
    /// look at the cancel flags).
    pub fn wake_reply_wait(&self) {
        for w in self.reply_wake.lock().iter() {
            w.interrupt();
        }
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        self.settings.lock().map(|s| *s).unwrap_or_default()
    }

    pub fn cancelled_since(&self, generation: u64) -> bool {
        self.cancel_gen.load(Ordering::SeqCst) != generation || self.stopping.load(Ordering::SeqCst)
    }

    pub fn set_error(&self, e: &FtpError) {
        self.last_error.set(&e.message);
    }
}
