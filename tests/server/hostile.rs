//! Hostile traffic against our server (issue 9, "what it must show"): two
//! sources send at least 5,000 datagrams/s in all — random and mutated FTP
//! requests (many system/component ids, paths that try to escape, writes at
//! the 4 GiB edge), CRC requests of a large sparse file, other MAVLink
//! messages, garbage, truncated frames and frames with bad CRCs — while a
//! legitimate client lists and downloads. Its operations all succeed, at
//! least 95 % of its listings are answered within 1 s, nothing outside the
//! root changes, and afterwards the server's state, its memory and the
//! process's file descriptors are back at their baseline.
//!
//! One test in its own binary: it counts the process's fds and memory. The
//! flood never names the client's files (a mutated opcode could turn a read
//! of them into a truncation, which is allowed).

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mavftp::Server;
use mavftp::client::Client;
use mavftp::link::Link;
use mavftp::link::sim::SplitMix64;
use mavftp::protocol::{FtpPacket, Opcode, mavlink_crc32};

use crate::own_process;
use crate::support::*;
use mavlink::Message as _;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(20);
/// Datagrams per second from each of the two sources.
const RATE_PER_SOURCE: u64 = 3_000;

/// Every file under `dir` (recursively, symlinks not followed): path → (kind, length, CRC).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (char, u64, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            if md.is_dir() {
                out.insert(rel, ('d', 0, 0));
                stack.push(e.path());
            } else if md.file_type().is_symlink() {
                let target = fs::read_link(e.path()).unwrap();
                let crc = mavlink_crc32(0, target.as_os_str().as_encoded_bytes());
                out.insert(rel, ('l', 0, crc));
            } else {
                let bytes = fs::read(e.path()).unwrap();
                out.insert(rel, ('f', md.len(), mavlink_crc32(0, &bytes)));
            }
        }
    }
    out
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident memory in kB, after handing freed memory back to the system.
fn rss_kb() -> u64 {
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Builds the flood's datagrams.
struct Flood {
    rng: SplitMix64,
    corpus: Vec<FtpPacket>,
}

impl Flood {
    fn new(seed: u64) -> Flood {
        let path = |op: Opcode, p: &str| {
            let mut r = FtpPacket::request(op, 0);
            r.data = p.as_bytes().to_vec();
            r
        };
        let mut corpus = vec![
            path(Opcode::ListDirectory, "/"),
            path(Opcode::ListDirectory, "/data"),
            path(Opcode::ListDirectory, "/scratch"),
            path(Opcode::ListDirectoryWithTime, "/"),
            path(Opcode::ListDirectory, "/escape"),
            path(Opcode::ListDirectory, "/../outside"),
            path(Opcode::OpenFileRO, "/scratch/f1"),
            path(Opcode::OpenFileRO, "/big.sparse"),
            path(Opcode::OpenFileRO, "/escape/secret.txt"),
            path(Opcode::OpenFileRO, "../outside/secret.txt"),
            path(Opcode::CreateFile, "/scratch/f1"),
            path(Opcode::CreateFile, "/escape/new.txt"),
            path(Opcode::OpenFileWO, "/scratch/f2"),
            path(Opcode::OpenFileWO, "/escape/secret.txt"),
            path(Opcode::CreateDirectory, "/scratch/d1"),
            path(Opcode::CreateDirectory, "/../outside/x"),
            path(Opcode::RemoveDirectory, "/scratch/d1"),
            path(Opcode::RemoveFile, "/scratch/f1"),
            path(Opcode::RemoveFile, "/escape/secret.txt"),
            path(Opcode::Rename, "/scratch/f2\0/scratch/f3"),
            path(Opcode::Rename, "/scratch/f3\0/escape/stolen"),
            path(Opcode::TruncateFile, "/scratch/f3"),
            path(Opcode::TruncateFile, "/escape/secret.txt"),
            path(Opcode::CalcFileCRC32, "/big.sparse"),
            path(Opcode::CalcFileCRC32, "/scratch/f3"),
            path(Opcode::CalcFileCRC32, "/escape/secret.txt"),
            FtpPacket::request(Opcode::ResetSessions, 0),
            FtpPacket::request(Opcode::None, 0),
            FtpPacket::request(Opcode::Unknown(77), 0),
        ];
        for op in [
            Opcode::ReadFile,
            Opcode::BurstReadFile,
            Opcode::WriteFile,
            Opcode::TerminateSession,
        ] {
            for (session, offset) in [(0u8, 0u32), (1, 1000), (0, 0xFFFF_FFF0), (2, 239)] {
                let mut r = FtpPacket::request(op, 0);
                r.session = session;
                r.offset = offset;
                r.data = vec![0x55; 100];
                corpus.push(r);
            }
        }
        Flood {
            rng: SplitMix64::new(seed),
            corpus,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// A valid FTP frame carrying `wire`, from one of many ids.
    fn ftp(&mut self, wire: &[u8; 251]) -> Vec<u8> {
        let (sys, comp) = if self.below(20) == 0 {
            (self.below(256) as u8, self.below(256) as u8)
        } else {
            (100 + self.below(32) as u8, [1, 190][self.below(2) as usize])
        };
        let (tsys, tcomp) = match self.below(10) {
            0 => (0, 0),
            1 => (SERVER_SYS, 0),
            2 => (self.below(256) as u8, self.below(256) as u8),
            _ => (SERVER_SYS, SERVER_COMP),
        };
        ftp_frame(sys, comp, tsys, tcomp, wire)
    }

    fn corpus_request(&mut self) -> [u8; 251] {
        let i = self.below(self.corpus.len() as u64) as usize;
        let mut p = self.corpus[i].clone();
        p.seq = self.below(65536) as u16;
        if matches!(
            p.opcode,
            Opcode::ReadFile | Opcode::BurstReadFile | Opcode::WriteFile
        ) {
            p.session = self.below(4) as u8;
            if self.below(2) == 0 {
                p.offset = self.rng.next_u64() as u32;
            }
        }
        if p.opcode == Opcode::TruncateFile {
            p.offset = self.rng.next_u64() as u32;
        }
        let mut wire = p.encode();
        // Mutate some: a few random bytes anywhere (header, size, path).
        if self.below(10) < 7 {
            for _ in 0..1 + self.below(4) {
                let at = self.below(251) as usize;
                wire[at] = self.rng.next_u64() as u8;
            }
        }
        wire
    }

    /// One datagram of the flood.
    fn datagram(&mut self) -> Vec<u8> {
        match self.below(100) {
            // Mutated or plain requests from the corpus.
            0..=39 => {
                let wire = self.corpus_request();
                self.ftp(&wire)
            }
            // CRC of the large sparse file, exactly.
            40..=49 => {
                let mut p = FtpPacket::request(Opcode::CalcFileCRC32, self.below(65536) as u16);
                p.data = b"/big.sparse".to_vec();
                let wire = p.encode();
                self.ftp(&wire)
            }
            // Fully random FTP payloads.
            50..=54 => {
                let mut wire = [0u8; 251];
                for b in wire.iter_mut() {
                    *b = self.rng.next_u64() as u8;
                }
                self.ftp(&wire)
            }
            // Other MAVLink messages: heartbeats and random payloads of known ids.
            55..=69 => {
                let sys = self.below(256) as u8;
                if self.below(2) == 0 {
                    mavlink2_frame(sys, 1, 0, 50, &[0, 0, 0, 0, 2, 3, 81, 4, 3])
                } else {
                    let id = [1u32, 24, 30, 33, 74, 253][self.below(6) as usize];
                    let extra = mavlink::dialects::common::MavMessage::extra_crc(id);
                    let len = 1 + self.below(40) as usize;
                    let payload: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                    mavlink2_frame(sys, 1, id, extra, &payload)
                }
            }
            // Garbage.
            70..=84 => {
                let len = 1 + self.below(300) as usize;
                (0..len).map(|_| self.rng.next_u64() as u8).collect()
            }
            // Truncated frames.
            85..=92 => {
                let wire = self.corpus_request();
                let mut f = self.ftp(&wire);
                let keep = self.below(f.len() as u64) as usize;
                f.truncate(keep.max(1));
                f
            }
            // Bad CRC.
            93..=96 => {
                let wire = self.corpus_request();
                let mut f = self.ftp(&wire);
                let n = f.len();
                f[n - 1] ^= 0x5A;
                f
            }
            // Several frames in one datagram.
            _ => {
                let mut f = Vec::new();
                for _ in 0..2 + self.below(2) {
                    let wire = self.corpus_request();
                    f.extend(self.ftp(&wire));
                }
                f
            }
        }
    }
}

/// Send the flood from one socket at `rate` datagrams/s until `stop`.
fn flood_source(target: SocketAddr, seed: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut flood = Flood::new(seed);
    let start = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let d = flood.datagram();
        if socket.send_to(&d, target).is_ok() {
            n += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
        if n.is_multiple_of(25) {
            let due = Duration::from_secs_f64(n as f64 / RATE_PER_SOURCE as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

#[test]
fn hostile_traffic_does_not_stop_a_legitimate_client_nor_leave_state_behind() {
    // It counts the process's file descriptors and memory: alone in a child
    // process, away from the other tests of this binary.
    if !own_process::is_child() {
        own_process::run_alone(
            "hostile::hostile_traffic_does_not_stop_a_legitimate_client_nor_leave_state_behind",
            &[],
        );
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    for d in [
        &root,
        &outside,
        &root.join("data/sub"),
        &root.join("scratch"),
    ] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(outside.join("secret.txt"), b"do not touch").unwrap();
    std::os::unix::fs::symlink("../outside", root.join("escape")).unwrap();
    let a = pattern(200_000, 21);
    fs::write(root.join("data/a.bin"), &a).unwrap();
    fs::write(root.join("data/b.txt"), b"bee").unwrap();
    fs::write(root.join("data/sub/c.txt"), b"sea").unwrap();
    fs::File::create(root.join("big.sparse"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let outside_before = snapshot(&outside);
    let data_before = snapshot(&root.join("data"));

    let server_link = Link::open("udpin://127.0.0.1:0", SERVER_SYS, SERVER_COMP).unwrap();
    let addr = server_link.local_addr().unwrap();
    let server = Server::new(&server_link, &root).unwrap();
    server.set_idle_timeout(Duration::from_secs(2));
    let link = Link::open(&format!("udpout://127.0.0.1:{}", addr.port()), 245, 190).unwrap();
    let client = Client::new(&link, SERVER_SYS, SERVER_COMP).unwrap();
    let local = tempfile::tempdir().unwrap();

    let list_data = |client: &Client| {
        let l = client.list_directory("/data").expect("listing /data");
        assert_eq!(l.files(), vec!["a.bin", "b.txt"]);
        assert_eq!(l.dirs(), vec!["sub"]);
    };
    let download = |client: &Client, burst: bool| {
        let _ = fs::remove_file(local.path().join("a.bin"));
        client
            .download("/data/a.bin", local.path(), burst, None)
            .unwrap_or_else(|e| panic!("download (burst {burst}): {e}"));
        assert!(fs::read(local.path().join("a.bin")).unwrap() == a);
    };
    // Warm up, then take the baseline.
    list_data(&client);
    download(&client, true);
    let wait_idle = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = server.stats();
            if s.sessions == 0
                && s.queued_requests == 0
                && s.pending_jobs == 0
                && s.bursts == 0
                && s.listing_entries == 0
                && s.peers <= 1
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: server still holds {s:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let start_flood = |seed: u64| {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let sources: Vec<_> = (0..2)
            .map(|i| {
                let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
                std::thread::spawn(move || flood_source(addr, seed + i, stop, sent))
            })
            .collect();
        (stop, sent, sources)
    };
    // A short flood first: the baseline then includes what any traffic
    // leaves for good (allocator arenas of the server's threads, the CRC
    // cache, per-thread buffers); the long flood must not add to it.
    let (stop, _, sources) = start_flood(500);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    for s in sources {
        s.join().unwrap();
    }
    wait_idle("before the flood");
    list_data(&client);
    let fds_before = open_fds();
    let rss_before = rss_kb();

    let (stop, sent, sources) = start_flood(1000);
    let flood_start = Instant::now();
    let mut listings = Vec::new();
    let mut downloads = 0;
    while flood_start.elapsed() < FLOOD {
        let t = Instant::now();
        list_data(&client);
        listings.push(t.elapsed());
        if listings.len() % 5 == 0 {
            download(&client, downloads % 2 == 0);
            downloads += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let identical = client
        .are_files_identical(&local.path().join("a.bin"), "/data/a.bin")
        .expect("CRC compare");
    assert!(identical);
    stop.store(true, Ordering::SeqCst);
    let flood_time = flood_start.elapsed();
    for s in sources {
        s.join().unwrap();
    }
    let rate = sent.load(Ordering::SeqCst) as f64 / flood_time.as_secs_f64();
    let within = listings
        .iter()
        .filter(|t| **t < Duration::from_secs(1))
        .count();
    let worst = listings.iter().max().copied().unwrap_or_default();
    eprintln!(
        "flood {rate:.0} datagrams/s for {flood_time:.1?}; {} listings ({within} within 1 s, worst {worst:.0?}), {downloads} downloads; server {:?}",
        listings.len(),
        server.stats()
    );
    assert!(rate >= 5_000.0, "flood only {rate:.0} datagrams/s");
    assert!(listings.len() >= 20 && downloads >= 4);
    assert!(
        within * 100 >= listings.len() * 95,
        "only {within} of {} listings answered within 1 s",
        listings.len()
    );

    // Afterwards: back to the baseline.
    let after = wait_idle("after the flood");
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds() != fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(open_fds(), fds_before, "file descriptors left open");
    let rss_after = rss_kb();
    eprintln!("RSS {rss_before} kB before, {rss_after} kB after; server {after:?}");
    assert!(
        rss_after <= rss_before + 1024,
        "memory grew from {rss_before} kB to {rss_after} kB"
    );
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "outside the root changed"
    );
    assert_eq!(snapshot(&root.join("data")), data_before, "/data changed");
    // And the client still works.
    list_data(&client);
    download(&client, true);
}
