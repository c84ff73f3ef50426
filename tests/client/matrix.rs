//! What the loss matrices (loss_matrix.rs against in-process servers,
//! loss_matrix_mavsdk.rs against MAVSDK's real server) share: the
//! link impairments, the transfer modes, the time budgets and the check of a
//! download's directory.

use std::path::Path;
use std::time::{Duration, Instant};

use mavftp::link::sim::Impairment;

/// A named impairment, applied to both directions of a case's link.
#[derive(Clone, Copy)]
pub struct Impaired {
    pub name: &'static str,
    pub make: fn() -> Impairment,
}

/// The impairments both matrices run: none, loss up to 20 %, duplication,
/// reordering, corruption and a mix of them.
pub const IMPAIRMENTS: [Impaired; 7] = [
    Impaired {
        name: "clean",
        make: Impairment::none,
    },
    Impaired {
        name: "loss5",
        make: || Impairment::none().with_loss(0.05),
    },
    Impaired {
        name: "loss20",
        make: || Impairment::none().with_loss(0.20),
    },
    Impaired {
        name: "dup10",
        make: || Impairment::none().with_duplicate(0.10),
    },
    Impaired {
        name: "reord20",
        make: || Impairment::none().with_reorder(0.20, Duration::from_millis(3)),
    },
    Impaired {
        name: "corrupt5",
        make: || Impairment::none().with_corrupt(0.05),
    },
    Impaired {
        name: "mix",
        make: || {
            Impairment::none()
                .with_loss(0.10)
                .with_duplicate(0.05)
                .with_reorder(0.10, Duration::from_millis(3))
                .with_corrupt(0.02)
        },
    },
];

/// What a case transfers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Burst,
    Plain,
    Upload,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Burst => "burst",
            Mode::Plain => "plain",
            Mode::Upload => "upload",
        }
    }
}

/// How a case ended.
#[derive(Debug)]
pub enum Verdict {
    Ok,
    Timeout(String),
    Bad(String),
}

/// Time limits derived from the client's timeout and retries.
#[derive(Clone, Copy)]
pub struct Budget {
    pub timeout: Duration,
    pub retries: u32,
}

impl Budget {
    /// Longest the client may go without progress: each request may be
    /// retried `retries` times after `timeout`, with adaptive timeouts and
    /// backoff allowed to stretch a try up to 6×.
    pub fn stall(self) -> Duration {
        self.timeout * (self.retries + 1) * 6
    }

    /// Upper bound for a whole transfer of `len` bytes: every request of a
    /// stop-and-wait transfer (open, one per block, close) costing a full stall.
    pub fn total(self, len: usize) -> Duration {
        let requests = len.div_ceil(239) as u32 + 4;
        self.stall() * requests
    }

    /// What is wrong with a case's timing: a silence between `start`, the
    /// progress `marks` and `end` longer than the stall budget (the tail
    /// includes the close, so it gets two), or a transfer of `len` bytes
    /// over its total budget.
    pub fn problems(
        self,
        start: Instant,
        marks: &[Instant],
        end: Instant,
        len: usize,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let points: Vec<Instant> = std::iter::once(start)
            .chain(marks.iter().copied())
            .collect();
        let max_gap = points
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .max()
            .unwrap_or_default();
        let tail = end.saturating_duration_since(*points.last().unwrap_or(&start));
        if max_gap > self.stall() || tail > self.stall() * 2 {
            problems.push(format!(
                "stalled: longest silence {max_gap:?}, tail {tail:?} (budget {:?})",
                self.stall()
            ));
        }
        let elapsed = end - start;
        if elapsed > self.total(len) {
            problems.push(format!("took {elapsed:?} > budget {:?}", self.total(len)));
        }
        problems
    }
}

/// Sorted names in `dir`.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Where `got` differs from `want`: lengths, the first 239-byte blocks that
/// differ (as offsets) and whether `got` holds only zeros or nothing there
/// (never written).
pub fn differences(got: &[u8], want: &[u8]) -> String {
    let block = |d: &[u8], o: usize| d.get(o..(o + 239).min(d.len())).unwrap_or(&[]).to_vec();
    let blocks: Vec<usize> = (0..got.len().max(want.len()))
        .step_by(239)
        .filter(|&o| block(got, o) != block(want, o))
        .collect();
    let zeros = blocks
        .iter()
        .all(|&o| block(got, o).iter().all(|&b| b == 0));
    format!(
        "{} bytes, expected {}, {} differing 239-byte blocks, at {:?} (zero or missing: {zeros})",
        got.len(),
        want.len(),
        blocks.len(),
        &blocks[..blocks.len().min(8)]
    )
}

/// Checks a download's local directory: exactly `name` holding `want`, or
/// nothing at all when `want` is None (failed transfer); never a temp file.
pub fn check_local(dir: &Path, name: &str, want: Option<&[u8]>) -> Result<(), String> {
    let names = dir_names(dir);
    if names.iter().any(|n| n.contains(".mavftp-part-")) {
        return Err(format!("temp file left: {names:?}"));
    }
    match want {
        None if names.is_empty() => Ok(()),
        None => Err(format!("failed download left {names:?}")),
        Some(data) => {
            if names != [name] {
                return Err(format!("local dir holds {names:?}"));
            }
            let got = std::fs::read(dir.join(name)).map_err(|e| e.to_string())?;
            if got != data {
                return Err(format!("WRONG FILE: {}", differences(&got, data)));
            }
            Ok(())
        }
    }
}
