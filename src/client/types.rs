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
