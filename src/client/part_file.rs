//! The hidden temporary file a download is written to, renamed into place
//! only when the download is complete (and deleted otherwise).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::link::random_u64;
use crate::protocol::MavCrc32;
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Bytes buffered before a write to the file: data arrives in order
/// almost always, so one write system call per this much instead of two
/// (a seek and a write) per packet.
const WRITE_BUFFER: usize = 64 * 1024;

/// Temp file in `dir`, deleted on drop unless kept.
pub(crate) struct PartFile {
    path: PathBuf,
    file: Option<std::io::BufWriter<File>>,
    /// Where the next buffered byte goes (a write there needs no seek).
    position: u64,
    keep: bool,
}

impl PartFile {
    pub fn create(dir: &Path, name: &str) -> FtpOutcome<PartFile> {
        for _ in 0..8 {
            let path = dir.join(format!(".{name}.mavftp-part-{:08x}", random_u64() as u32));
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => {
                    return Ok(PartFile {
                        path,
                        file: Some(std::io::BufWriter::with_capacity(WRITE_BUFFER, f)),
                        position: 0,
                        keep: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(FtpError::io(format!("create {}", path.display()), &e)),
            }
        }
        Err(FtpError::new(
            FtpResult::FileIoError,
            "could not create a temporary file",
        ))
    }
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        use std::io::Seek;
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(FtpResult::FileIoError, "temp file closed"))?;
        if offset != self.position {
            // Flushes what is buffered, then moves.
            f.seek(std::io::SeekFrom::Start(offset))
                .map_err(|e| FtpError::io("seek temp file", &e))?;
        }
        f.write_all(data)
            .map_err(|e| FtpError::io("write temp file", &e))?;
        self.position = offset + data.len() as u64;
        Ok(())
    }
    /// MAVLink CRC32 of what was written so far.
    pub fn crc(&mut self) -> FtpOutcome<u32> {
        use std::io::{Read, Seek};
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(FtpResult::FileIoError, "temp file closed"))?;
        f.flush().map_err(|e| FtpError::io("flush temp file", &e))?;
        // The clone shares the file offset: the next write must seek.
        self.position = u64::MAX;
        let mut file = f
            .get_ref()
            .try_clone()
            .map_err(|e| FtpError::io("reopen temp file", &e))?;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(|e| FtpError::io("seek temp file", &e))?;
        let mut crc = MavCrc32::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| FtpError::io("read temp file", &e))?;
            if n == 0 {
                return Ok(crc.value());
            }
            crc.update(&buf[..n]);
        }
    }

    /// Cut the file at `len` (reads past the end may have landed beyond it).
    pub fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(FtpResult::FileIoError, "temp file closed"))?;
        f.flush().map_err(|e| FtpError::io("flush temp file", &e))?;
        f.get_ref()
            .set_len(len)
            .map_err(|e| FtpError::io("truncate temp file", &e))
    }
    pub fn commit(mut self, dest: &Path) -> FtpOutcome<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| FtpError::io("flush temp file", &e))?;
            let inner = f
                .into_inner()
                .map_err(|e| FtpError::io("flush temp file", e.error()))?;
            let _ = inner.sync_all();
        }
        std::fs::rename(&self.path, dest)
            .map_err(|e| FtpError::io(format!("rename to {}", dest.display()), &e))?;
        self.keep = true;
        Ok(())
    }
}

impl super::sink::DownloadSink for PartFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        PartFile::write_at(self, offset, data)
    }
    fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        PartFile::truncate(self, len)
    }
    fn crc(&mut self) -> FtpOutcome<u32> {
        PartFile::crc(self)
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
