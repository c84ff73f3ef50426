//! Where a download's bytes go: a hidden part file renamed into place
//! (`part_file`), a resumable part file (`resume`), a buffer in memory, or
//! the application's callback in file order.
//!
//! Bytes arrive out of order (a burst leaves holes that reads fill later),
//! and every byte a sink receives was checked against the request it answers
//! (see `fetch`). A streaming sink holds what arrived beyond the first
//! missing byte and hands it over once the gap before it is filled.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::shared::Control;
use super::types::ChunkFn;
use crate::protocol::MavCrc32;
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// The receiving end of a download.
pub(crate) trait DownloadSink {
    /// The download starts; the server announced `size` bytes. Returns how
    /// many bytes from the start the sink holds already (0 but for a
    /// resumed download).
    fn begin(&mut self, _size: u64) -> FtpOutcome<u64> {
        Ok(0)
    }
    /// Store `data` at `offset` (any order; a range may come twice).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()>;
    /// The file ends at `len`: drop anything stored beyond.
    fn truncate(&mut self, len: u64) -> FtpOutcome<()>;
    /// MAVLink CRC32 of the bytes stored (the whole file once complete).
    fn crc(&mut self) -> FtpOutcome<u32>;
    /// Every byte below `len` is stored (no hole below it).
    fn contiguous(&mut self, _len: u64) {}
}

/// A download into memory.
#[derive(Default)]
pub(crate) struct MemorySink {
    pub data: Vec<u8>,
}

impl DownloadSink for MemorySink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        let start = usize::try_from(offset)
            .map_err(|_| FtpError::new(FtpResult::FileIoError, "offset beyond memory"))?;
        let end = start + data.len();
        if self.data.len() < end {
            self.data
                .try_reserve(end - self.data.len())
                .map_err(|_| FtpError::new(FtpResult::FileIoError, "out of memory"))?;
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(data);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        self.data
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }

    fn crc(&mut self) -> FtpOutcome<u32> {
        let mut crc = MavCrc32::new();
        crc.update(&self.data);
        Ok(crc.value())
    }
}

/// A download handed to the application in order, piece by piece.
pub(crate) struct StreamSink {
    chunk: ChunkFn,
    control: Arc<Control>,
    /// Bytes handed over so far (all below are delivered).
    delivered: u64,
    /// Pieces that arrived beyond `delivered`, by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    crc: MavCrc32,
    /// The file's end, once known: nothing at or beyond it is handed over.
    end: Option<u64>,
}

impl StreamSink {
    pub fn new(chunk: ChunkFn, control: &Arc<Control>) -> StreamSink {
        StreamSink {
            chunk,
            control: Arc::clone(control),
            delivered: 0,
            pending: BTreeMap::new(),
            crc: MavCrc32::new(),
            end: None,
        }
    }

    /// Bytes handed to the application.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Hand over every piece that now continues what was delivered.
    fn flush(&mut self) -> FtpOutcome<()> {
        while let Some(entry) = self.pending.first_entry() {
            let at = *entry.key();
            if at > self.delivered {
                break;
            }
            let piece = entry.remove();
            let piece_end = at + piece.len() as u64;
            if piece_end <= self.delivered {
                continue;
            }
            let from = (self.delivered - at) as usize;
            let mut to = piece.len();
            if let Some(end) = self.end {
                to = to.min(end.saturating_sub(at) as usize);
            }
            if from >= to {
                continue;
            }
            let part = &piece[from..to];
            self.crc.update(part);
            let offset = self.delivered;
            self.delivered += part.len() as u64;
            let go_on = {
                let _guard = self.control.callbacks.lock();
                (self.chunk)(offset, part)
            };
            if !go_on {
                return Err(FtpError::new(
                    FtpResult::Cancelled,
                    "the data callback asked to stop",
                ));
            }
        }
        Ok(())
    }
}

impl DownloadSink for StreamSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        let end = offset + data.len() as u64;
        if end <= self.delivered || data.is_empty() {
            return Ok(());
        }
        // Keep the longer piece when one offset comes twice.
        let keep = self
            .pending
            .get(&offset)
            .is_none_or(|old| old.len() < data.len());
        if keep {
            self.pending.insert(offset, data.to_vec());
        }
        self.flush()
    }

    fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        self.end = Some(len);
        self.flush()?;
        self.pending.clear();
        if self.delivered < len {
            return Err(FtpError::new(
                FtpResult::ProtocolError,
                format!(
                    "the file ends at {len} but only {} bytes arrived in order",
                    self.delivered
                ),
            ));
        }
        Ok(())
    }

    fn crc(&mut self) -> FtpOutcome<u32> {
        Ok(self.crc.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    type Pieces = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

    fn stream() -> (StreamSink, Pieces) {
        let got: Pieces = Arc::default();
        let sink = Arc::clone(&got);
        let control = Arc::new(Control::new(1, 1));
        let s = StreamSink::new(
            Box::new(move |o, d| {
                sink.lock().push((o, d.to_vec()));
                true
            }),
            &control,
        );
        (s, got)
    }

    #[test]
    fn stream_delivers_in_order_whatever_the_arrival_order() {
        let (mut s, got) = stream();
        s.write_at(10, &[10, 11, 12]).unwrap();
        s.write_at(5, &[5, 6, 7, 8, 9]).unwrap();
        assert!(got.lock().is_empty(), "nothing before byte 0 arrived");
        s.write_at(0, &[0, 1, 2, 3, 4]).unwrap();
        s.write_at(2, &[2, 3]).unwrap(); // a repeat
        s.truncate(13).unwrap();
        let all: Vec<u8> = got.lock().iter().flat_map(|(_, d)| d.clone()).collect();
        assert_eq!(all, (0..13).collect::<Vec<u8>>());
        let offsets: Vec<u64> = got.lock().iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, vec![0, 5, 10]);
        let mut want = MavCrc32::new();
        want.update(&(0..13).collect::<Vec<u8>>());
        assert_eq!(s.crc().unwrap(), want.value());
    }

    #[test]
    fn stream_with_a_gap_at_the_end_is_an_error() {
        let (mut s, _) = stream();
        s.write_at(0, &[1, 2]).unwrap();
        s.write_at(4, &[5]).unwrap();
        assert_eq!(s.truncate(5).unwrap_err().result, FtpResult::ProtocolError);
    }

    #[test]
    fn memory_sink_fills_out_of_order() {
        let mut m = MemorySink::default();
        m.write_at(3, &[3, 4]).unwrap();
        m.write_at(0, &[0, 1, 2]).unwrap();
        m.truncate(4).unwrap();
        assert_eq!(m.data, vec![0, 1, 2, 3]);
    }
}
