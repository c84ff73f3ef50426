//! The client engine: a worker thread per client, a queue of operations run
//! in submission order, and one state machine per operation kind.
//!
//! STUB: signatures are the contract between modules; bodies are being written.

use std::path::Path;
use std::time::Duration;

use crate::link::Link;
use crate::result::FtpOutcome;

/// Bytes moved so far out of the total (total is 0 while unknown).
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

/// A client of one remote FTP server (one target system/component).
/// All methods may be called from any thread, including from inside callbacks.
pub struct Client {
    _private: (),
}

impl Client {
    /// Client of (target_system, target_component) on `link`. target_system 0
    /// means the first system heard; target_component 0 means 1 (autopilot).
    pub fn new(_link: &Link, _target_system: u8, _target_component: u8) -> FtpOutcome<Client> {
        todo!()
    }

    /// Address another component of the target system from the next operation on.
    pub fn set_target_compid(&self, _compid: u8) {
        todo!()
    }

    /// Base reply timeout and retries per request (adapted to the measured RTT).
    pub fn set_timeout(&self, _timeout: Duration, _retries: u32) {
        todo!()
    }

    /// End the running and queued operations with `Cancelled`.
    pub fn cancel(&self) {
        todo!()
    }

    /// Detail of the last failure of this client, if any.
    pub fn last_error(&self) -> Option<String> {
        todo!()
    }

    /// Download `remote_file_path` into `local_dir` (same file name).
    pub fn download_async(
        &self,
        _remote_file_path: &str,
        _local_dir: &Path,
        _use_burst: bool,
        _progress: Option<ProgressFn>,
        _done: Completion<()>,
    ) -> FtpOutcome<()> {
        todo!()
    }

    /// Upload `local_file_path` into `remote_dir` (same file name).
    pub fn upload_async(
        &self,
        _local_file_path: &Path,
        _remote_dir: &str,
        _progress: Option<ProgressFn>,
        _done: Completion<()>,
    ) -> FtpOutcome<()> {
        todo!()
    }

    /// List `remote_dir`.
    pub fn list_directory_async(&self, _remote_dir: &str, _done: Completion<Listing>) -> FtpOutcome<()> {
        todo!()
    }

    /// Create `remote_dir`.
    pub fn create_directory_async(&self, _remote_dir: &str, _done: Completion<()>) -> FtpOutcome<()> {
        todo!()
    }

    /// Remove the empty directory `remote_dir`.
    pub fn remove_directory_async(&self, _remote_dir: &str, _done: Completion<()>) -> FtpOutcome<()> {
        todo!()
    }

    /// Remove the file `remote_file_path`.
    pub fn remove_file_async(&self, _remote_file_path: &str, _done: Completion<()>) -> FtpOutcome<()> {
        todo!()
    }

    /// Rename `remote_from_path` to `remote_to_path`.
    pub fn rename_async(&self, _remote_from_path: &str, _remote_to_path: &str, _done: Completion<()>) -> FtpOutcome<()> {
        todo!()
    }

    /// Compare the MAVLink CRC32 of a local file with the server's for a remote one.
    pub fn are_files_identical_async(
        &self,
        _local_file_path: &Path,
        _remote_file_path: &str,
        _done: Completion<bool>,
    ) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking download. Returns `Busy` when called from one of this client's
    /// own callbacks (it would wait for itself); use the async form there.
    pub fn download(&self, _remote_file_path: &str, _local_dir: &Path, _use_burst: bool, _progress: Option<ProgressFn>) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking upload (see [`Client::download`] about callbacks).
    pub fn upload(&self, _local_file_path: &Path, _remote_dir: &str, _progress: Option<ProgressFn>) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking list.
    pub fn list_directory(&self, _remote_dir: &str) -> FtpOutcome<Listing> {
        todo!()
    }

    /// Blocking create directory.
    pub fn create_directory(&self, _remote_dir: &str) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking remove directory.
    pub fn remove_directory(&self, _remote_dir: &str) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking remove file.
    pub fn remove_file(&self, _remote_file_path: &str) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking rename.
    pub fn rename(&self, _remote_from_path: &str, _remote_to_path: &str) -> FtpOutcome<()> {
        todo!()
    }

    /// Blocking CRC comparison.
    pub fn are_files_identical(&self, _local_file_path: &Path, _remote_file_path: &str) -> FtpOutcome<bool> {
        todo!()
    }
}

impl Drop for Client {
    /// Ends every accepted operation (Cancelled if cut short) and waits for its
    /// callback, unless called from this client's own worker thread.
    fn drop(&mut self) {}
}
