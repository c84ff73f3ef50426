//! Progress reporting of transfers.
//!
//! A transfer reports (bytes so far, total) to its [`ProgressGate`], which
//! forwards it, rate-limited, either to a MAVSDK-shaped callback (32-bit
//! counts, at most every 1 % or 100 ms, whichever is rarer) or to the
//! [`ProgressHub`] of an extended operation. The hub adds up the files of a
//! directory operation (several may run at once), measures the rate and the
//! time left, and calls the application at most 10 times per second. Every
//! call into the application holds the client's callback lock, so two
//! workers never call back at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::shared::Control;
use super::types::{Progress, ProgressFn, TransferProgress, TransferProgressFn};

/// Shortest time between two progress calls.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How far back the rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Where a transfer's progress goes.
enum Sink {
    None,
    Legacy(ProgressFn, Arc<Control>),
    Hub(Arc<ProgressHub>, usize),
}

/// Rate-limits one transfer's progress reports.
pub(crate) struct ProgressGate {
    sink: Sink,
    last_at: Option<Instant>,
    last_bytes: u64,
}

impl ProgressGate {
    /// A MAVSDK-shaped callback (or none).
    pub fn new(f: Option<ProgressFn>, control: &Arc<Control>) -> ProgressGate {
        let sink = match f {
            Some(f) => Sink::Legacy(f, Arc::clone(control)),
            None => Sink::None,
        };
        ProgressGate {
            sink,
            last_at: None,
            last_bytes: 0,
        }
    }

    /// One file (`slot`) of an extended operation.
    pub fn hub(hub: &Arc<ProgressHub>, slot: usize) -> ProgressGate {
        ProgressGate {
            sink: Sink::Hub(Arc::clone(hub), slot),
            last_at: None,
            last_bytes: 0,
        }
    }

    /// The last progress of a completed transfer: `len` of `len` bytes.
    pub fn finish(&mut self, len: u64) {
        self.report(len, len, true);
    }

    /// `bytes` of `total` (0: unknown) moved; `force` skips the rate limit
    /// of MAVSDK-shaped callbacks.
    pub fn report(&mut self, bytes: u64, total: u64, force: bool) {
        match &mut self.sink {
            Sink::None => {}
            Sink::Hub(hub, slot) => hub.report(*slot, bytes, total),
            Sink::Legacy(f, control) => {
                let step = (total / 100).max(1);
                let time_ok = self.last_at.is_none_or(|t| t.elapsed() >= MIN_INTERVAL);
                let bytes_ok = bytes.saturating_sub(self.last_bytes) >= step || total == 0;
                if force || (time_ok && bytes_ok) {
                    self.last_at = Some(Instant::now());
                    self.last_bytes = bytes;
                    let p = Progress {
                        bytes_transferred: bytes.min(u64::from(u32::MAX)) as u32,
                        total_bytes: total.min(u64::from(u32::MAX)) as u32,
                    };
                    let _guard = control.callbacks.lock();
                    f(p);
                }
            }
        }
    }
}

/// Bytes per second over the last [`RATE_WINDOW`].
#[derive(Default)]
struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
    /// Bytes counted so far (only what moved while measured).
    moved: u64,
}

impl RateMeter {
    fn add(&mut self, bytes: u64, now: Instant) {
        self.moved += bytes;
        self.samples.push_back((now, self.moved));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.duration_since(t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    fn rate(&self, now: Instant) -> f64 {
        let Some(&(t0, b0)) = self.samples.front() else {
            return 0.0;
        };
        let span = now.duration_since(t0).as_secs_f64();
        if span < 0.2 {
            return 0.0;
        }
        (self.moved - b0) as f64 / span
    }
}

/// One file of the operation being transferred now.
struct Active {
    slot: usize,
    bytes: u64,
    total: u64,
}

struct HubState {
    file_count: u32,
    files_started: u32,
    failed: u32,
    skipped: u32,
    current: String,
    /// Bytes of the files finished.
    finished_bytes: u64,
    /// Bytes planned (directory: sizes of the files to transfer).
    planned: u64,
    /// Largest total a file reported (single-file operations).
    single_total: u64,
    active: Vec<Active>,
    meter: RateMeter,
    /// Whether a first report was taken (the rate counts from there).
    measuring: bool,
    last_emit: Option<Instant>,
}

/// The progress of one extended operation (one file or a directory).
pub(crate) struct ProgressHub {
    op_id: u64,
    control: Arc<Control>,
    state: Mutex<HubState>,
    f: Mutex<Option<TransferProgressFn>>,
}

impl ProgressHub {
    pub fn new(
        op_id: u64,
        control: &Arc<Control>,
        f: Option<TransferProgressFn>,
        file_count: u32,
    ) -> Arc<ProgressHub> {
        Arc::new(ProgressHub {
            op_id,
            control: Arc::clone(control),
            state: Mutex::new(HubState {
                file_count,
                files_started: 0,
                failed: 0,
                skipped: 0,
                current: String::new(),
                finished_bytes: 0,
                planned: 0,
                single_total: 0,
                active: Vec::new(),
                meter: RateMeter::default(),
                measuring: false,
                last_emit: None,
            }),
            f: Mutex::new(f),
        })
    }

    /// A directory was listed: `files` to go through, `bytes` in them.
    pub fn plan(&self, files: u32, bytes: u64) {
        let mut s = self.state.lock();
        s.file_count = files;
        s.planned = bytes;
    }

    /// A file starts; its slot for [`ProgressGate::hub`].
    pub fn start_file(&self, name: &str) -> usize {
        let mut s = self.state.lock();
        s.files_started += 1;
        s.current = name.to_string();
        let slot = s.files_started as usize;
        s.active.push(Active {
            slot,
            bytes: 0,
            total: 0,
        });
        slot
    }

    /// A file ends: `moved` bytes transferred; `planned` is what the plan
    /// counted for it (taken out when it was skipped or failed).
    pub fn end_file(&self, slot: usize, moved: u64, planned: u64, how: FileEnd) {
        let mut s = self.state.lock();
        if let Some(pos) = s.active.iter().position(|a| a.slot == slot) {
            s.active.swap_remove(pos);
        }
        s.finished_bytes += moved;
        match how {
            FileEnd::Done => s.planned = s.planned.saturating_sub(planned) + moved,
            FileEnd::Skipped => {
                s.skipped += 1;
                s.planned = s.planned.saturating_sub(planned);
            }
            FileEnd::Failed => {
                s.failed += 1;
                s.planned = s.planned.saturating_sub(planned) + moved;
            }
        }
    }

    /// File `slot` has `bytes` of `total`.
    fn report(&self, slot: usize, bytes: u64, total: u64) {
        let now = Instant::now();
        let emit = {
            let mut s = self.state.lock();
            let Some(a) = s.active.iter_mut().find(|a| a.slot == slot) else {
                return;
            };
            let grew = bytes.saturating_sub(a.bytes);
            a.bytes = bytes;
            a.total = total;
            s.single_total = s.single_total.max(total);
            if s.measuring {
                s.meter.add(grew, now);
            } else {
                // The first report may carry resumed bytes: the rate starts here.
                s.measuring = true;
                s.meter.add(0, now);
            }
            let due = s
                .last_emit
                .is_none_or(|t| now.duration_since(t) >= MIN_INTERVAL);
            if due {
                s.last_emit = Some(now);
            }
            due
        };
        if emit {
            self.emit();
        }
    }

    /// Call the application with the current progress (callback lock held).
    fn emit(&self) {
        let _guard = self.control.callbacks.lock();
        let p = self.snapshot();
        if let Some(f) = self.f.lock().as_mut() {
            f(&p);
        }
    }

    /// The progress now.
    pub fn snapshot(&self) -> TransferProgress {
        let s = self.state.lock();
        let now = Instant::now();
        let active_bytes: u64 = s.active.iter().map(|a| a.bytes).sum();
        let bytes = s.finished_bytes + active_bytes;
        let total = if s.planned == 0 {
            // A single file: the size it announced.
            s.single_total
        } else {
            // A file may turn out longer than listed.
            let extra: u64 = s
                .active
                .iter()
                .map(|a| a.bytes.saturating_sub(a.total))
                .sum();
            s.planned + extra
        }
        .max(bytes);
        let rate = s.meter.rate(now);
        let eta = (rate > 0.0 && total > 0).then(|| (total.saturating_sub(bytes)) as f64 / rate);
        TransferProgress {
            op_id: self.op_id,
            bytes_transferred: bytes,
            total_bytes: total,
            bytes_per_second: rate,
            eta_seconds: eta,
            file_index: s.files_started,
            file_count: s.file_count.max(s.files_started),
            files_failed: s.failed,
            files_skipped: s.skipped,
            current_file: s.current.clone(),
        }
    }
}

/// How a file of an extended operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileEnd {
    Done,
    Skipped,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_only_what_moved_in_the_window() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        m.add(0, t0);
        m.add(1000, t0 + Duration::from_secs(1));
        m.add(1000, t0 + Duration::from_secs(2));
        let r = m.rate(t0 + Duration::from_secs(2));
        assert!((r - 1000.0).abs() < 1.0, "{r}");
        // Old samples leave the window.
        m.add(0, t0 + Duration::from_secs(20));
        m.add(500, t0 + Duration::from_secs(21));
        let r = m.rate(t0 + Duration::from_secs(21));
        assert!(r < 600.0, "{r}");
    }

    #[test]
    fn hub_adds_up_files_and_limits_calls_to_ten_per_second() {
        let control = Arc::new(Control::new(1, 1));
        let calls = Arc::new(Mutex::new(Vec::<TransferProgress>::new()));
        let sink = Arc::clone(&calls);
        let hub = ProgressHub::new(
            7,
            &control,
            Some(Box::new(move |p: &TransferProgress| {
                sink.lock().push(p.clone())
            })),
            2,
        );
        hub.plan(2, 300);
        let a = hub.start_file("a");
        let b = hub.start_file("b");
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(550) {
            hub.report(a, 50, 100);
            hub.report(b, 100, 200);
            std::thread::sleep(Duration::from_millis(5));
        }
        let n = calls.lock().len();
        assert!((4..=7).contains(&n), "{n} calls in 0.55 s");
        hub.end_file(a, 100, 100, FileEnd::Done);
        hub.end_file(b, 0, 200, FileEnd::Skipped);
        let p = hub.snapshot();
        assert_eq!(p.op_id, 7);
        assert_eq!((p.bytes_transferred, p.total_bytes), (100, 100));
        assert_eq!((p.file_index, p.file_count, p.files_skipped), (2, 2, 1));
    }
}
