//! Resumable downloads: the part file of a download into `dir/name` keeps a
//! fixed hidden name, `.name.mavftp-resume`, beside a hidden metadata file,
//! `.name.mavftp-resume.meta`, which says which remote file it holds, that
//! file's size (from OpenFileRO) and listing mtime (0 when the server gives
//! none) and how many bytes from the start are on disk without a gap.
//!
//! The metadata is rewritten (a temporary file renamed over it) at most
//! every 250 ms while bytes arrive, always after the data it counts was
//! handed to the operating system, and once more when the download fails or
//! is cancelled. A process killed mid-transfer therefore leaves metadata that
//! never counts bytes that are not in the part file.
//!
//! The next download of the same remote file into the same place goes on
//! from those bytes when the remote file's size, and its mtime where both
//! are known, are unchanged; otherwise it starts over in the same files.
//! A resumed download is compared with the server's CalcFileCRC32 before it
//! is reported complete (the bytes kept came from an earlier session); a
//! mismatch starts it over once (see `extended`). On success the part file
//! is renamed into place and the metadata removed.
//!
//! The part file is locked (`flock`) while a download uses it: a second
//! download of the same file into the same place at the same time does not
//! resume (it writes a private part file) rather than share it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sink::DownloadSink;
use crate::protocol::MavCrc32;
use crate::result::{FtpError, FtpOutcome};

/// Shortest time between two metadata writes.
const SAVE_EVERY: Duration = Duration::from_millis(250);
/// First line of a metadata file.
const MAGIC: &str = "mavftp-resume 1";

/// The hidden names of the part file and the metadata of `dir/name`.
pub(crate) fn resume_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!(".{name}.mavftp-resume")),
        dir.join(format!(".{name}.mavftp-resume.meta")),
    )
}

/// What the metadata file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ResumeMeta {
    pub remote: String,
    pub size: u64,
    /// 0 when unknown.
    pub mtime: u64,
    /// Bytes from the start on disk without a gap.
    pub verified: u64,
}

impl ResumeMeta {
    fn encode(&self) -> String {
        format!(
            "{MAGIC}\nsize={}\nmtime={}\nverified={}\nremote={}\n",
            self.size, self.mtime, self.verified, self.remote
        )
    }

    fn decode(text: &str) -> Option<ResumeMeta> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut meta = ResumeMeta::default();
        let mut seen = 0;
        for line in lines {
            let (key, value) = line.split_once('=')?;
            match key {
                "size" => meta.size = value.parse().ok()?,
                "mtime" => meta.mtime = value.parse().ok()?,
                "verified" => meta.verified = value.parse().ok()?,
                "remote" => meta.remote = value.to_string(),
                _ => continue,
            }
            seen += 1;
        }
        (seen == 4).then_some(meta)
    }
}

/// The resumable part file of one download, locked while it lives. On drop
/// without [`ResumableFile::commit`] the data stays and the metadata is saved.
pub(crate) struct ResumableFile {
    data_path: PathBuf,
    meta_path: PathBuf,
    file: Option<BufWriter<File>>,
    meta: ResumeMeta,
    /// `verified` as last written to the metadata file.
    saved: u64,
    saved_at: Option<Instant>,
    /// Whether the metadata may be written (the remote facts are known).
    armed: bool,
    /// Whether this download created the part file (removed again when it
    /// ends before it knew the remote file).
    created: bool,
    /// The remote path and listing mtime of this download.
    remote: String,
    mtime: u64,
}

impl ResumableFile {
    /// The resume state of a download of `remote` into `dir/name`; None
    /// when another download holds it, or the path cannot be recorded.
    pub fn open(dir: &Path, name: &str, remote: &str) -> FtpOutcome<Option<ResumableFile>> {
        if remote.contains(['\n', '\r']) {
            return Ok(None);
        }
        let (data_path, meta_path) = resume_paths(dir, name);
        let created = !data_path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(|e| FtpError::io(format!("open {}", data_path.display()), &e))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked {
            return Ok(None);
        }
        let meta = std::fs::read_to_string(&meta_path)
            .ok()
            .and_then(|t| ResumeMeta::decode(&t))
            .unwrap_or_default();
        Ok(Some(ResumableFile {
            data_path,
            meta_path,
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
            meta,
            saved: 0,
            saved_at: None,
            armed: false,
            created,
            remote: remote.to_string(),
            mtime: 0,
        }))
    }

    /// The listing's mtime of the remote file (0: unknown), for
    /// [`DownloadSink::begin`].
    pub fn set_mtime(&mut self, mtime: u64) {
        self.mtime = mtime;
    }

    /// The remote file is `remote`, `size` bytes, modified at `mtime` (0:
    /// unknown): the bytes an earlier download of the same file left, or 0
    /// when there are none or the file changed. The part file is cut there.
    pub fn resume_point(&mut self, remote: &str, size: u64, mtime: u64) -> FtpOutcome<u64> {
        let on_disk = self
            .file
            .as_ref()
            .and_then(|f| f.get_ref().metadata().ok())
            .map_or(0, |m| m.len());
        let old = &self.meta;
        let same = old.remote == remote
            && old.size == size
            && (old.mtime == 0 || mtime == 0 || old.mtime == mtime)
            && old.verified <= size;
        let start = if same { old.verified.min(on_disk) } else { 0 };
        self.meta = ResumeMeta {
            remote: remote.to_string(),
            size,
            mtime: if same && mtime == 0 { old.mtime } else { mtime },
            verified: start,
        };
        self.truncate_to(start)?;
        self.armed = true;
        self.save(true);
        Ok(start)
    }

    fn truncate_to(&mut self, len: u64) -> FtpOutcome<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.flush()
            .map_err(|e| FtpError::io("flush the part file", &e))?;
        f.get_ref()
            .set_len(len)
            .map_err(|e| FtpError::io("truncate the part file", &e))
    }

    /// Write the metadata (after flushing the data it counts); `force`
    /// ignores the rate limit. Failures only cost the resume.
    fn save(&mut self, force: bool) {
        if !self.armed {
            return;
        }
        if !force && self.saved_at.is_some_and(|t| t.elapsed() < SAVE_EVERY) {
            return;
        }
        if let Some(f) = self.file.as_mut()
            && f.flush().is_err()
        {
            return;
        }
        let tmp = self.meta_path.with_extension("meta-new");
        let written = std::fs::write(&tmp, self.meta.encode())
            .and_then(|()| std::fs::rename(&tmp, &self.meta_path));
        if written.is_ok() {
            self.saved = self.meta.verified;
            self.saved_at = Some(Instant::now());
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The download is complete: rename the part file to `dest`, remove the metadata.
    pub fn commit(mut self, dest: &Path) -> FtpOutcome<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()
                .map_err(|e| FtpError::io("flush the part file", &e))?;
            let inner = f
                .into_inner()
                .map_err(|e| FtpError::io("flush the part file", e.error()))?;
            let _ = inner.sync_all();
            std::fs::rename(&self.data_path, dest)
                .map_err(|e| FtpError::io(format!("rename to {}", dest.display()), &e))?;
        }
        self.armed = false;
        let _ = std::fs::remove_file(&self.meta_path);
        Ok(())
    }

    /// Forget what was downloaded (the bytes were wrong): both files go.
    pub fn discard(mut self) {
        self.file.take();
        self.armed = false;
        let _ = std::fs::remove_file(&self.data_path);
        let _ = std::fs::remove_file(&self.meta_path);
    }

    /// Start over in the same files (after a verification mismatch).
    pub fn restart(&mut self) -> FtpOutcome<()> {
        self.meta.verified = 0;
        self.truncate_to(0)?;
        self.save(true);
        Ok(())
    }
}

/// Remove what an interrupted resumable download of `dir/name` left, unless
/// a download holds it now (a download that completed the file another way
/// makes it stale).
pub(crate) fn forget(dir: &Path, name: &str) {
    let (data, meta) = resume_paths(dir, name);
    if !meta.exists() && !data.exists() {
        return;
    }
    if let Ok(Some(state)) = ResumableFile::open(dir, name, "") {
        state.discard();
    }
}

impl DownloadSink for ResumableFile {
    fn begin(&mut self, size: u64) -> FtpOutcome<u64> {
        let remote = self.remote.clone();
        self.resume_point(&remote, size, self.mtime)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(crate::FtpResult::FileIoError, "part file closed"))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| FtpError::io("seek the part file", &e))?;
        f.write_all(data)
            .map_err(|e| FtpError::io("write the part file", &e))
    }

    fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        self.truncate_to(len)?;
        self.meta.verified = self.meta.verified.min(len);
        Ok(())
    }

    fn crc(&mut self) -> FtpOutcome<u32> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(crate::FtpResult::FileIoError, "part file closed"))?;
        f.flush()
            .map_err(|e| FtpError::io("flush the part file", &e))?;
        let mut file = f
            .get_ref()
            .try_clone()
            .map_err(|e| FtpError::io("reopen the part file", &e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| FtpError::io("seek the part file", &e))?;
        let mut crc = MavCrc32::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| FtpError::io("read the part file", &e))?;
            if n == 0 {
                return Ok(crc.value());
            }
            crc.update(&buf[..n]);
        }
    }

    fn contiguous(&mut self, len: u64) {
        if len > self.meta.verified {
            self.meta.verified = len;
            if self.meta.verified > self.saved {
                self.save(false);
            }
        }
    }
}

impl Drop for ResumableFile {
    fn drop(&mut self) {
        // Failed or cancelled: keep the data and say how much of it is good.
        self.save(true);
        if !self.armed && self.created && self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.data_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_rejects_garbage() {
        let m = ResumeMeta {
            remote: "/logs/a b=c.bin".into(),
            size: 2_000_000,
            mtime: 1_700_000_000,
            verified: 999_999,
        };
        assert_eq!(ResumeMeta::decode(&m.encode()), Some(m));
        assert_eq!(ResumeMeta::decode("mavftp-resume 1\nsize=x\n"), None);
        assert_eq!(ResumeMeta::decode("something else"), None);
        assert_eq!(ResumeMeta::decode("mavftp-resume 1\nsize=1\n"), None);
    }

    #[test]
    fn a_kept_part_is_resumed_only_for_the_same_unchanged_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = ResumableFile::open(dir.path(), "f", "/f").unwrap().unwrap();
            assert_eq!(r.resume_point("/f", 1000, 50).unwrap(), 0);
            r.write_at(0, &[7u8; 600]).unwrap();
            r.contiguous(600);
        }
        let mut r = ResumableFile::open(dir.path(), "f", "/f").unwrap().unwrap();
        assert!(
            ResumableFile::open(dir.path(), "f", "/f")
                .unwrap()
                .is_none(),
            "locked while in use"
        );
        assert_eq!(r.resume_point("/f", 1000, 50).unwrap(), 600);
        drop(r);
        let mut r = ResumableFile::open(dir.path(), "f", "/f").unwrap().unwrap();
        assert_eq!(r.resume_point("/f", 1000, 51).unwrap(), 0, "mtime changed");
        drop(r);
        let mut r = ResumableFile::open(dir.path(), "f", "/f").unwrap().unwrap();
        r.write_at(0, &[7u8; 600]).unwrap();
        r.contiguous(600);
        drop(r);
        let mut r = ResumableFile::open(dir.path(), "f", "/f").unwrap().unwrap();
        assert_eq!(r.resume_point("/f", 1001, 51).unwrap(), 0, "size changed");
        r.write_at(0, &[1u8; 1001]).unwrap();
        r.contiguous(1001);
        r.commit(&dir.path().join("f")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("f")).unwrap(),
            vec![1u8; 1001]
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "metadata removed on success");
    }
}
