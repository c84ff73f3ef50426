//! The plain data types of the client's public API.

use crate::result::FtpOutcome;

/// Bytes moved so far out of the total (total is 0 while unknown). Transfers
/// are limited to files below 4 GiB (the protocol's offsets are 32-bit), so
/// both fit in 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub bytes_transferred: u32,
    pub total_bytes: u32,
}

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File = 1,
    Directory = 2,
}

/// One entry of a remote directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
    /// 0 for directories.
    pub size_bytes: u64,
    /// Seconds since the epoch; 0 when the server does not tell.
    pub modification_time_s: u64,
}

/// A remote directory's entries, sorted by name, without `.` and `..`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub entries: Vec<DirEntry>,
}

impl Listing {
    /// Names of the subdirectories, sorted.
    pub fn dirs(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Directory)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// Names of the files, sorted.
    pub fn files(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .map(|e| e.name.as_str())
            .collect()
    }
}

/// Called with progress on the client's worker thread.
pub type ProgressFn = Box<dyn FnMut(Progress) + Send>;
/// Called exactly once with the final outcome, on the client's worker thread.
pub type Completion<T> = Box<dyn FnOnce(FtpOutcome<T>) + Send>;

/// Options of the extended transfers ([`Client::download_ex_async`] and the
/// other `_ex`, directory and memory transfers). `TransferOptions::default()`
/// is: plain reads, resume on, verify off, every file, identical files skipped.
///
/// [`Client::download_ex_async`]: super::Client::download_ex_async
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOptions {
    /// Downloads: burst reads instead of plain ones (uploads ignore it).
    pub use_burst: bool,
    /// Downloads to a file: keep what arrived when the download fails, is
    /// cancelled or its process dies, and go on from there next time (see
    /// the module `resume`). Off: a failed download leaves nothing behind,
    /// as the MAVSDK-shaped download does.
    pub resume: bool,
    /// After the transfer, compare the MAVLink CRC32 of both ends
    /// (CalcFileCRC32); on a mismatch transfer again once, then fail with
    /// FILE_IO_ERROR.
    pub verify: bool,
    /// Directory operations: only files whose path relative to the
    /// directory matches this pattern (`*` and `?` within one path
    /// component, `**` across components; a pattern without `/` is matched
    /// against the file name alone). None: every file.
    pub glob: Option<String>,
    /// Directory operations: leave out files the other side already has
    /// (same size, then same CRC32).
    pub skip_identical: bool,
}

impl Default for TransferOptions {
    fn default() -> TransferOptions {
        TransferOptions {
            use_burst: false,
            resume: true,
            verify: false,
            glob: None,
            skip_identical: true,
        }
    }
}

/// Progress of an extended transfer. Single files count as a directory of
/// one file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransferProgress {
    /// The operation's id.
    pub op_id: u64,
    /// Bytes moved so far (for a resumed download: including the bytes it
    /// resumed from; for a directory: of every file, finished or not).
    pub bytes_transferred: u64,
    /// Bytes to move in all (0 while unknown). Directory operations count
    /// the files to transfer; files found identical are taken out as they
    /// are checked.
    pub total_bytes: u64,
    /// Recent rate (the last few seconds), bytes per second.
    pub bytes_per_second: f64,
    /// Estimated seconds left; None while the rate or total is unknown.
    pub eta_seconds: Option<f64>,
    /// Files started so far (1-based index of the newest one).
    pub file_index: u32,
    /// Files in the operation (1 for a single file; for a directory known
    /// once it was listed).
    pub file_count: u32,
    /// Files that failed so far (directory operations go on with the others).
    pub files_failed: u32,
    /// Files left out because the other side had them already.
    pub files_skipped: u32,
    /// The newest file started (for a directory: its path relative to it).
    pub current_file: String,
}

/// Called with the progress of an extended transfer, at most 10 times per
/// second, on one of the client's worker threads (never two at once).
pub type TransferProgressFn = Box<dyn FnMut(&TransferProgress) + Send>;

/// Called exactly once with the final outcome of an extended transfer and
/// its last progress.
pub type ExCompletion<T> = Box<dyn FnOnce(FtpOutcome<T>, &TransferProgress) + Send>;

/// Called with each contiguous piece of a streamed download, in file order
/// (`offset` is where the piece starts); return false to stop the download
/// (it ends CANCELLED).
pub type ChunkFn = Box<dyn FnMut(u64, &[u8]) -> bool + Send>;

/// What a single-file extended transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferReport {
    /// Length of the file.
    pub bytes: u64,
    /// Bytes taken from an earlier, interrupted download (0: from the start).
    pub resumed_from: u64,
    /// Whether both ends' CRC32 were compared and found equal.
    pub verified: bool,
    /// Whether a first attempt failed verification and was repeated.
    pub repeated: bool,
}

/// One file of a directory operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFile {
    /// Path relative to the directory.
    pub path: String,
    /// Why.
    pub error: crate::result::FtpError,
}

/// What a directory operation did. A failure of one file does not stop the
/// others: check [`DirReport::failed`] (or [`DirReport::result`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use = "files may have failed: see `failed`"]
pub struct DirReport {
    /// Files selected (after the glob).
    pub files: u32,
    /// Files transferred.
    pub transferred: u32,
    /// Files left out as identical.
    pub skipped: u32,
    /// Files that failed, in the order they failed.
    pub failed: Vec<FailedFile>,
    /// File bytes moved.
    pub bytes: u64,
    /// Directories created on the receiving side.
    pub dirs_created: u32,
}

impl DirReport {
    /// SUCCESS when no file failed; otherwise the first failure's code with
    /// a message naming every failed file.
    pub fn result(&self) -> FtpOutcome<()> {
        let Some(first) = self.failed.first() else {
            return Ok(());
        };
        let names: Vec<String> = self
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.path, f.error))
            .collect();
        Err(crate::result::FtpError::new(
            first.error.result,
            format!(
                "{} of {} files failed: {}",
                self.failed.len(),
                self.files,
                names.join("; ")
            ),
        ))
    }
}
