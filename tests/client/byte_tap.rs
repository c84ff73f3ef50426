//! Counting the file bytes a download fetched (resume and skip tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mavftp::link::{FtpSubscription, Link};
use mavftp::protocol::Opcode;

/// Counts the file bytes servers send to `link`'s clients (ReadFile and
/// burst data): the bytes a download had to fetch.
pub struct ByteTap {
    bytes: Arc<AtomicU64>,
    _sub: FtpSubscription,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl ByteTap {
    pub fn on(link: &Link) -> ByteTap {
        let sub = link.subscribe(|inc| {
            inc.packet.opcode == Opcode::Ack
                && matches!(
                    inc.packet.req_opcode,
                    Opcode::ReadFile | Opcode::BurstReadFile
                )
        });
        let rx = sub.receiver.clone();
        let bytes = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (Arc::clone(&bytes), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(inc) = rx.recv_timeout(Duration::from_millis(20)) {
                    b.fetch_add(inc.packet.data.len() as u64, Ordering::Relaxed);
                }
            }
            while let Ok(inc) = rx.try_recv() {
                b.fetch_add(inc.packet.data.len() as u64, Ordering::Relaxed);
            }
        });
        ByteTap {
            bytes,
            _sub: sub,
            thread: Some(thread),
            stop,
        }
    }

    /// Bytes counted so far (after a short settle).
    pub fn total(&mut self) -> u64 {
        std::thread::sleep(Duration::from_millis(50));
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bytes.load(Ordering::Relaxed)
    }
}
