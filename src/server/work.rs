//! Work that may take long — a CRC over a large file, reading a large
//! directory — done in bounded steps ([`Pending::step`]), each at most about
//! [`super::peers::TURN_TIME`], between which every other ready peer gets a
//! turn. CRC results are cached by the file's identity, size and change
//! times ([`CrcCache`]), so asking again for the CRC of an unchanged file
//! costs one `fstat`, and a CRC still running for one peer ends as soon as
//! another peer's CRC of the same file is cached. Work for a peer that has
//! gone silent for the session idle timeout is abandoned (see
//! [`super::peers`]).

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, ReadDir};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Instant, UNIX_EPOCH};

use crate::protocol::{FtpPacket, ListingEntry, MavCrc32};

/// CRC results remembered.
pub const CRC_CACHE_ENTRIES: usize = 64;
/// Bytes read per read call of a CRC.
const CRC_CHUNK: usize = 256 * 1024;
thread_local! {
    static CRC_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// Directory entries read between two checks of the step's deadline.
const LIST_BATCH: usize = 64;

/// A file's identity and state: equal keys mean unchanged content (as far as
/// the file system tells: same inode, size and modification/change times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// The key of a file's metadata.
    pub fn of(md: &fs::Metadata) -> FileKey {
        FileKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            ctime: (md.ctime(), md.ctime_nsec()),
        }
    }
}

/// Recent CRC results by [`FileKey`] (least recently stored forgotten first).
#[derive(Debug, Default)]
pub struct CrcCache {
    map: HashMap<FileKey, u32>,
    order: VecDeque<FileKey>,
}

impl CrcCache {
    /// The CRC of an unchanged file, if known.
    pub fn get(&self, key: &FileKey) -> Option<u32> {
        self.map.get(key).copied()
    }

    /// Remember a result.
    pub fn put(&mut self, key: FileKey, crc: u32) {
        if self.map.insert(key, crc).is_none() {
            self.order.push_back(key);
            while self.order.len() > CRC_CACHE_ENTRIES {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Results held.
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// A request whose answer takes several steps.
#[derive(Debug)]
pub enum Pending {
    /// CalcFileCRC32 over an open file.
    Crc {
        /// The request being answered.
        request: FtpPacket,
        /// The file.
        file: File,
        /// Its key when opened (the result is cached under it).
        key: FileKey,
        /// CRC so far.
        crc: MavCrc32,
    },
    /// Reading a directory for a listing that starts at offset 0.
    List {
        /// The request being answered.
        request: FtpPacket,
        /// ListDirectoryWithTime?
        with_time: bool,
        /// The directory.
        path: PathBuf,
        /// Its key when opened.
        key: FileKey,
        /// The directory stream.
        dir: ReadDir,
        /// Entries read so far, with their raw names for sorting.
        entries: Vec<(Vec<u8>, ListingEntry)>,
    },
}

/// What one step achieved.
pub enum Step {
    /// Not done: step again on the peer's next turn.
    More,
    /// The CRC is complete.
    Crc(u32),
    /// The directory is read (entries sorted by name bytes).
    Listing(Vec<ListingEntry>),
    /// An I/O error ended the work.
    Failed(io::Error),
}

fn mtime_of(md: &fs::Metadata) -> u64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The listing entry for one directory entry: files and directories by name
/// (names that cannot be represented — not UTF-8, with tab or newline — and
/// every other kind become `S` placeholders so that indices stay stable).
pub fn listing_entry(entry: &fs::DirEntry) -> (Vec<u8>, ListingEntry) {
    let raw = entry.file_name().as_bytes().to_vec();
    let name = match std::str::from_utf8(&raw) {
        Ok(n) if !n.contains(['\t', '\n', '\r']) => n.to_string(),
        _ => return (raw, ListingEntry::Skip),
    };
    let e = match entry.metadata() {
        Ok(md) if md.file_type().is_file() => ListingEntry::File {
            name,
            size: md.len(),
            mtime: Some(mtime_of(&md)),
        },
        Ok(md) if md.file_type().is_dir() => ListingEntry::Directory {
            name,
            mtime: Some(mtime_of(&md)),
        },
        _ => ListingEntry::Skip,
    };
    (raw, e)
}

impl Pending {
    /// The request this work answers.
    pub fn request(&self) -> &FtpPacket {
        match self {
            Pending::Crc { request, .. } | Pending::List { request, .. } => request,
        }
    }

    /// Work until done or `deadline`.
    pub fn step(&mut self, deadline: Instant) -> Step {
        match self {
            Pending::Crc { file, crc, .. } => CRC_BUFFER.with_borrow_mut(|buf| {
                // One buffer per thread, not per pending CRC.
                if buf.is_empty() {
                    buf.resize(CRC_CHUNK, 0);
                }
                loop {
                    match file.read(buf) {
                        Ok(0) => return Step::Crc(crc.value()),
                        Ok(n) => crc.update(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Step::Failed(e),
                    }
                    if Instant::now() >= deadline {
                        return Step::More;
                    }
                }
            }),
            Pending::List { dir, entries, .. } => loop {
                for _ in 0..LIST_BATCH {
                    match dir.next() {
                        None => {
                            let mut all = std::mem::take(entries);
                            all.sort_by(|a, b| a.0.cmp(&b.0));
                            return Step::Listing(all.into_iter().map(|(_, e)| e).collect());
                        }
                        Some(Ok(entry)) => entries.push(listing_entry(&entry)),
                        Some(Err(e)) => return Step::Failed(e),
                    }
                }
                if Instant::now() >= deadline {
                    return Step::More;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Opcode, mavlink_crc32};
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn a_crc_done_in_many_short_steps_equals_the_whole_crc() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| ((i * 31) >> 3) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let file = File::open(f.path()).unwrap();
        let key = FileKey::of(&file.metadata().unwrap());
        let mut p = Pending::Crc {
            request: FtpPacket::request(Opcode::CalcFileCRC32, 1),
            file,
            key,
            crc: MavCrc32::new(),
        };
        let mut steps = 0;
        let crc = loop {
            steps += 1;
            // A deadline in the past: one read per step.
            match p.step(Instant::now() - Duration::from_millis(1)) {
                Step::More => {}
                Step::Crc(c) => break c,
                _ => panic!("unexpected step result"),
            }
        };
        assert_eq!(crc, mavlink_crc32(0, &data));
        assert!(steps > 10, "{steps} steps");
    }

    #[test]
    fn the_crc_cache_keeps_the_latest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = CrcCache::default();
        let mut keys = Vec::new();
        for i in 0..(CRC_CACHE_ENTRIES + 3) {
            let p = dir.path().join(format!("f{i}"));
            fs::write(&p, [i as u8]).unwrap();
            let key = FileKey::of(&fs::metadata(&p).unwrap());
            cache.put(key, i as u32);
            keys.push(key);
        }
        assert_eq!(cache.len(), CRC_CACHE_ENTRIES);
        assert_eq!(cache.get(&keys[0]), None);
        assert_eq!(
            cache.get(&keys[CRC_CACHE_ENTRIES + 2]),
            Some(CRC_CACHE_ENTRIES as u32 + 2)
        );
    }
}
