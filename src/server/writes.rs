//! WriteFile requests written together: a *run* is consecutive WriteFile
//! requests of one peer's session whose bytes follow each other in the file
//! (each offset is the end of the one before), as a client pipelining an
//! upload sends them. A run is written with one `pwritev` instead of a
//! `pwrite` each, and each request is then answered on its own.
//!
//! Integrity: a request is ACKed only once `pwritev` reported its bytes
//! written to the file. When it reports fewer bytes than the run (a short
//! write) or an error, the requests it did not cover are written again one
//! by one, so that each gets its own result: an ACK, or the NAK (errno) of
//! its own failed write. A request whose end would lie beyond 4 GiB − 1
//! gets EFBIG as when written alone ([`handlers::write`]).
//!
//! Why writes may run on the thread that reads the link ([`DiskPace`]):
//! a write into the page cache takes microseconds, and answering it where
//! it was read saves waking a worker for every few packets. A slow disk
//! (a write that waited for the device, or dirty-page throttling) must not
//! hold up the link's input for other peers, so after one write took
//! [`SLOW_WRITE`] or longer, writes go to the workers again for
//! [`SLOW_DISK_HOLD`].

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::{FtpPacket, NakCode, Opcode};

use super::handlers::{self, Ctx, MAX_PROTOCOL_SIZE, Outcome};

/// Most requests in one run (`pwritev` takes up to 1024 buffers).
pub const MAX_RUN: usize = 32;
/// A write (a run) that took this long shows a slow disk.
pub const SLOW_WRITE: Duration = Duration::from_millis(4);
/// How long after a slow write every write is left to the workers.
pub const SLOW_DISK_HOLD: Duration = Duration::from_secs(5);

/// Whether `next` continues the run `run` (non-empty): a WriteFile of the
/// same session at the end of the run's last request, with data.
pub fn continues(run: &[FtpPacket], next: &FtpPacket) -> bool {
    let Some(last) = run.last() else {
        return false;
    };
    run.len() < MAX_RUN
        && next.opcode == Opcode::WriteFile
        && next.session == last.session
        && !next.data.is_empty()
        && next.offset as u64 == last.offset as u64 + last.data.len() as u64
}

/// Write the run `reqs` (see [`continues`]) and answer each request: one
/// outcome per request, in order.
pub fn write_run(ctx: &mut Ctx<'_>, reqs: &[FtpPacket]) -> Vec<Outcome> {
    let [first, ..] = reqs else {
        return Vec::new();
    };
    if reqs.len() == 1 {
        return vec![handlers::write(ctx, first)];
    }
    let file = match ctx.state.sessions.get(first.session) {
        Some(s) if s.writable && !ctx.read_only => std::sync::Arc::clone(s),
        // The same refusal for every request: each gets it from the handler.
        _ => return reqs.iter().map(|r| handlers::write(ctx, r)).collect(),
    };
    // Requests that fit below 4 GiB − 1 come first (offsets only grow).
    let fits = reqs
        .iter()
        .take_while(|r| r.offset as u64 + r.data.len() as u64 <= MAX_PROTOCOL_SIZE)
        .count();
    let bufs: Vec<&[u8]> = reqs[..fits].iter().map(|r| r.data.as_slice()).collect();
    let written = pwritev(&file.file, &bufs, first.offset as u64).unwrap_or(0);
    let mut covered = 0usize;
    let mut outcomes = Vec::with_capacity(reqs.len());
    for (i, req) in reqs.iter().enumerate() {
        covered += req.data.len();
        let outcome = if i < fits && covered <= written {
            Outcome::Reply(vec![FtpPacket::ack_for(req, Vec::new())])
        } else if i >= fits {
            Outcome::Reply(vec![FtpPacket::nak_for(
                req,
                NakCode::FailErrno,
                libc::EFBIG as u8,
            )])
        } else {
            // Not (wholly) written by the pwritev: on its own, for its own result.
            match file.file.write_all_at(&req.data, req.offset as u64) {
                Ok(()) => Outcome::Reply(vec![FtpPacket::ack_for(req, Vec::new())]),
                Err(e) => handlers::io_nak(req, &e),
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// One `pwritev` of `bufs` at `offset`: the bytes written (possibly fewer
/// than all).
fn pwritev(file: &std::fs::File, bufs: &[&[u8]], offset: u64) -> io::Result<usize> {
    let iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let offset =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: every iovec points into a buffer of `bufs`, alive and unchanged
    // for the call; the kernel only reads them.
    let n = unsafe {
        libc::pwritev(
            file.as_raw_fd(),
            iov.as_ptr(),
            iov.len() as libc::c_int,
            offset,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Whether the disk has been fast enough for writes to be answered on the
/// thread that reads the link (see the module doc). Shared by the threads
/// of one server.
#[derive(Debug)]
pub struct DiskPace {
    epoch: Instant,
    /// Milliseconds since `epoch` until which writes go to the workers.
    slow_until_ms: AtomicU64,
}

impl Default for DiskPace {
    fn default() -> Self {
        DiskPace {
            epoch: Instant::now(),
            slow_until_ms: AtomicU64::new(0),
        }
    }
}

impl DiskPace {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Note that a write (a run) took `took`.
    pub fn note(&self, took: Duration) {
        if took >= SLOW_WRITE {
            let until = self.now_ms() + SLOW_DISK_HOLD.as_millis() as u64;
            self.slow_until_ms.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// Whether writes may be answered on the reading thread now.
    pub fn fast(&self) -> bool {
        let until = self.slow_until_ms.load(Ordering::Relaxed);
        until == 0 || self.now_ms() >= until
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::fd::FromRawFd;
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;
    use crate::link::Route;
    use crate::server::jail::RootJail;
    use crate::server::peers::{Arrival, Intake, PeerState, Request, Scheduler};
    use crate::server::sessions::{Peer, Quota};
    use crate::server::work::CrcCache;

    const PEER: Peer = (Route::LOCAL, 7, 8);

    /// An in-memory file of `size` bytes that cannot grow beyond it (a
    /// write past its end fails with EPERM): a disk that fills mid-run.
    fn sealed_file(size: u64) -> File {
        // SAFETY: a valid C string; the fd returned is owned by the File.
        let fd = unsafe { libc::memfd_create(c"run".as_ptr(), libc::MFD_ALLOW_SEALING) };
        assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(size).unwrap();
        // SAFETY: fcntl on an fd we own.
        let sealed = unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_GROW) };
        assert_eq!(sealed, 0, "F_SEAL_GROW: {}", io::Error::last_os_error());
        file
    }

    /// A peer's state with `file` open for writing as session 1.
    fn peer_with(file: File) -> Box<PeerState> {
        let mut sched = Scheduler::new(Arc::new(Mutex::new(Quota::default())));
        let hello = Request {
            peer: PEER,
            packet: FtpPacket::request(Opcode::None, 1),
            invalid_size: None,
        };
        let Arrival::Now(_, mut state) = sched.arrive(hello, Intake::Now) else {
            panic!("an idle peer's cheap request is handled at once");
        };
        let id = state
            .sessions
            .open(1, file, true, Duration::from_secs(10))
            .unwrap();
        assert_eq!(id, 1);
        state
    }

    /// The run of writes of `len` bytes each from `offset` (bytes i+1).
    fn run(offset: u32, len: usize, count: usize) -> Vec<FtpPacket> {
        (0..count)
            .map(|i| {
                let mut p = FtpPacket::request(Opcode::WriteFile, 10 + 2 * i as u16);
                p.session = 1;
                p.offset = offset + (i * len) as u32;
                p.data = vec![i as u8 + 1; len];
                p
            })
            .collect()
    }

    /// Write `reqs` with the run writer; (opcode, offset, errno) per reply.
    fn answers(state: &mut PeerState, reqs: &[FtpPacket]) -> Vec<(Opcode, u32, u8)> {
        let root = tempfile::tempdir().unwrap();
        let jail = RootJail::new(root.path()).unwrap();
        let crc_cache = Mutex::new(CrcCache::default());
        let mut ctx = Ctx {
            jail: &jail,
            peer: PEER,
            state,
            read_only: false,
            idle: Duration::from_secs(10),
            crc_cache: &crc_cache,
        };
        write_run(&mut ctx, reqs)
            .into_iter()
            .zip(reqs)
            .map(|(o, req)| {
                let Outcome::Reply(replies) = o else {
                    panic!("a write is answered with a reply");
                };
                assert_eq!(replies.len(), 1);
                let r = &replies[0];
                assert_eq!((r.seq, r.req_opcode), (req.seq + 1, Opcode::WriteFile));
                let errno = if r.opcode == Opcode::Nak {
                    r.data[1]
                } else {
                    0
                };
                (r.opcode, r.offset, errno)
            })
            .collect()
    }

    fn file_of(state: &PeerState) -> Vec<u8> {
        let s = state.sessions.get(1).unwrap();
        let mut out = vec![0u8; s.file.metadata().unwrap().len() as usize];
        s.file.read_exact_at(&mut out, 0).unwrap();
        out
    }

    #[test]
    fn a_run_continues_with_the_next_bytes_of_the_same_session_only() {
        let reqs = run(100, 10, 3);
        assert!(continues(&reqs[..1], &reqs[1]));
        assert!(continues(&reqs[..2], &reqs[2]));
        assert!(!continues(&reqs[..2], &reqs[1]), "the same offset again");
        assert!(!continues(&reqs[..1], &reqs[2]), "a gap");
        assert!(!continues(&[], &reqs[0]));
        let mut other = reqs[1].clone();
        other.session = 2;
        assert!(!continues(&reqs[..1], &other), "another session");
        other = reqs[1].clone();
        other.opcode = Opcode::ReadFile;
        assert!(!continues(&reqs[..1], &other), "not a write");
        other = reqs[1].clone();
        other.data.clear();
        assert!(!continues(&reqs[..1], &other), "no data");
        let long = run(0, 1, MAX_RUN + 1);
        assert!(continues(&long[..MAX_RUN - 1], &long[MAX_RUN - 1]));
        assert!(!continues(&long[..MAX_RUN], &long[MAX_RUN]), "full");
    }

    #[test]
    fn a_run_is_written_whole_and_every_request_acked_at_its_offset() {
        let mut state = peer_with(tempfile::tempfile().unwrap());
        let reqs = run(0, 239, 20);
        let got = answers(&mut state, &reqs);
        let want: Vec<_> = reqs.iter().map(|r| (Opcode::Ack, r.offset, 0)).collect();
        assert_eq!(got, want);
        let expect: Vec<u8> = reqs.iter().flat_map(|r| r.data.clone()).collect();
        assert_eq!(file_of(&state), expect);
    }

    #[test]
    fn a_write_that_fails_mid_run_naks_exactly_the_requests_not_written() {
        // Room for 4 of 6 writes and part of the fifth, all in one page:
        // the pwritev fails as a whole, each write is retried on its own.
        let mut state = peer_with(sealed_file(1000));
        let reqs = run(0, 239, 6);
        let got = answers(&mut state, &reqs);
        let eperm = libc::EPERM as u8;
        let want = vec![
            (Opcode::Ack, 0, 0),
            (Opcode::Ack, 239, 0),
            (Opcode::Ack, 478, 0),
            (Opcode::Ack, 717, 0),
            (Opcode::Nak, 956, eperm),
            (Opcode::Nak, 1195, eperm),
        ];
        assert_eq!(got, want);
        assert_eq!(file_of(&state)[..956], run(0, 239, 4).concat_data()[..]);
    }

    #[test]
    fn a_short_write_acks_what_it_wrote_and_retries_the_rest_one_by_one() {
        // The run crosses a page boundary; the file can grow 300 bytes into
        // the second page: pwritev writes the first page's part only.
        let mut state = peer_with(sealed_file(4096 + 300));
        let reqs = run(4096 - 2 * 239, 239, 5);
        let got = answers(&mut state, &reqs);
        let eperm = libc::EPERM as u8;
        let want = vec![
            (Opcode::Ack, 3618, 0),
            (Opcode::Ack, 3857, 0),
            (Opcode::Ack, 4096, 0),
            (Opcode::Nak, 4335, eperm),
            (Opcode::Nak, 4574, eperm),
        ];
        assert_eq!(got, want);
        assert_eq!(
            file_of(&state)[3618..4335],
            run(0, 239, 3).concat_data()[..]
        );
    }

    #[test]
    fn writes_of_a_run_beyond_4_gib_get_efbig_and_the_rest_is_written() {
        let mut state = peer_with(tempfile::tempfile().unwrap());
        let reqs = run(u32::MAX - 25, 10, 3);
        let got = answers(&mut state, &reqs);
        let efbig = libc::EFBIG as u8;
        let want = vec![
            (Opcode::Ack, u32::MAX - 25, 0),
            (Opcode::Ack, u32::MAX - 15, 0),
            (Opcode::Nak, u32::MAX - 5, efbig),
        ];
        assert_eq!(got, want);
        let file = &state.sessions.get(1).unwrap().file;
        assert_eq!(file.metadata().unwrap().len(), u32::MAX as u64 - 5);
    }

    #[test]
    fn one_slow_write_sends_writes_to_the_workers_for_a_while() {
        let pace = DiskPace::default();
        assert!(pace.fast());
        pace.note(SLOW_WRITE / 2);
        assert!(pace.fast());
        pace.note(SLOW_WRITE);
        assert!(!pace.fast());
        // Later fast writes (on the workers) do not end the hold early.
        pace.note(Duration::ZERO);
        assert!(!pace.fast());
    }

    trait ConcatData {
        fn concat_data(&self) -> Vec<u8>;
    }

    impl ConcatData for Vec<FtpPacket> {
        fn concat_data(&self) -> Vec<u8> {
            self.iter().flat_map(|p| p.data.iter().copied()).collect()
        }
    }
}
