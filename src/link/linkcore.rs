//! The shared state behind every [`Link`](super::Link) handle: the transport
//! writer, frame routing to subscriptions, the heard table, close hooks and the
//! I/O threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use super::IncomingFtp;
use super::frame::{FrameParser, FrameWriter, RawFrame, split_ftp_payload};
use crate::protocol::{FILE_TRANSFER_PROTOCOL_ID, FtpPacket};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Interval between our HEARTBEATs.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// Where framed bytes go. Called under the link's send lock, so one frame is
/// written at a time and frames leave in sequence order.
pub(crate) trait Transport: Send + Sync {
    /// Write one complete frame.
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()>;
    /// Unblock and stop any I/O (called once when the link closes, after hooks).
    fn shutdown(&self) {}
}

/// A custom transport: the application's callback.
pub(crate) struct SinkTransport(pub super::FrameSink);

impl Transport for SinkTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        (self.0)(frame);
        Ok(())
    }
}

/// One registration made with `Link::subscribe`.
pub(crate) struct Subscription {
    pub id: u64,
    pub accept: Box<dyn Fn(&IncomingFtp) -> bool + Send + Sync>,
    pub sender: Sender<IncomingFtp>,
}

#[derive(Default)]
struct HeardTable {
    first_other_system: Option<u8>,
    last_heard: HashMap<(u8, u8), Instant>,
}

type CloseHook = Box<dyn FnOnce() + Send>;

/// Lifecycle states of a link.
const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

/// Shared state of one link. Threads hold `Arc<LinkCore>`; the user-visible
/// handle wraps it and closes it when the last handle drops.
pub(crate) struct LinkCore {
    own_system_id: u8,
    own_component_id: u8,
    byte_rate: Option<u32>,
    state: AtomicU8,
    writer: Mutex<FrameWriter>,
    transport: Box<dyn Transport>,
    fed: Mutex<FrameParser>,
    subscriptions: RwLock<Vec<Subscription>>,
    heard: Mutex<HeardTable>,
    hooks: Mutex<Vec<(u64, CloseHook)>>,
    next_id: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop_heartbeat: Mutex<Option<Sender<()>>>,
    local_addr: Mutex<Option<std::net::SocketAddr>>,
}

impl LinkCore {
    /// A core with the given ids (0 → defaults already applied by the caller).
    pub fn new(
        own_system_id: u8,
        own_component_id: u8,
        byte_rate: Option<u32>,
        transport: Box<dyn Transport>,
    ) -> Arc<LinkCore> {
        Arc::new(LinkCore {
            own_system_id,
            own_component_id,
            byte_rate,
            state: AtomicU8::new(OPEN),
            writer: Mutex::new(FrameWriter::new(own_system_id, own_component_id)),
            transport,
            fed: Mutex::new(FrameParser::new()),
            subscriptions: RwLock::new(Vec::new()),
            heard: Mutex::new(HeardTable::default()),
            hooks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            threads: Mutex::new(Vec::new()),
            stop_heartbeat: Mutex::new(None),
            local_addr: Mutex::new(None),
        })
    }

    pub fn own_system_id(&self) -> u8 {
        self.own_system_id
    }

    pub fn own_component_id(&self) -> u8 {
        self.own_component_id
    }

    pub fn byte_rate(&self) -> Option<u32> {
        self.byte_rate
    }

    pub fn set_local_addr(&self, addr: Option<std::net::SocketAddr>) {
        *self.local_addr.lock() = addr;
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        *self.local_addr.lock()
    }

    /// True once the I/O has stopped (after the close hooks ran).
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// True once close() started.
    pub fn is_closing(&self) -> bool {
        self.state.load(Ordering::Acquire) != OPEN
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Register a thread to join at close.
    pub fn add_thread(&self, handle: JoinHandle<()>) {
        self.threads.lock().push(handle);
    }

    /// Start the heartbeat thread (and send the first heartbeat now).
    pub fn start_heartbeat(self: &Arc<Self>) -> FtpOutcome<()> {
        let _ = self.send_heartbeat();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        *self.stop_heartbeat.lock() = Some(stop_tx);
        let core = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("mavftp-heartbeat".into())
            .spawn(move || {
                // Ends when the sender is dropped (close) or the link closed.
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(HEARTBEAT_PERIOD)
                {
                    if core.is_closed() {
                        break;
                    }
                    let _ = core.send_heartbeat();
                }
            })
            .map_err(|e| FtpError::io("cannot start heartbeat thread", &e))?;
        self.add_thread(handle);
        Ok(())
    }

    fn send_heartbeat(&self) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let mut writer = self.writer.lock();
        let frame = writer.heartbeat();
        self.transport.write_frame(frame)
    }

    /// Frame and send one FTP packet.
    pub fn send_ftp(
        &self,
        target_system: u8,
        target_component: u8,
        packet: &FtpPacket,
    ) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let payload = packet.encode();
        let mut writer = self.writer.lock();
        let frame = writer.ftp(target_system, target_component, payload);
        self.transport.write_frame(frame)
    }

    /// Bytes received by a custom or simulated link.
    pub fn feed(&self, bytes: &[u8]) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let mut parser = self.fed.lock();
        self.ingest(&mut parser, bytes);
        Ok(())
    }

    /// Parse `bytes` with `parser` and route every frame.
    pub fn ingest(&self, parser: &mut FrameParser, bytes: &[u8]) {
        let received_at = Instant::now();
        parser.push(bytes, |frame| self.on_frame(frame, received_at));
    }

    fn on_frame(&self, frame: RawFrame<'_>, received_at: Instant) {
        self.mark_heard(frame.system_id, frame.component_id, received_at);
        if frame.message_id != FILE_TRANSFER_PROTOCOL_ID {
            return;
        }
        let subscriptions = self.subscriptions.read();
        if subscriptions.is_empty() {
            return;
        }
        let (target_system, target_component, ftp) = split_ftp_payload(frame.payload);
        let Some(packet) = FtpPacket::decode(ftp) else {
            return;
        };
        let incoming = IncomingFtp {
            source_system: frame.system_id,
            source_component: frame.component_id,
            target_system,
            target_component,
            packet,
            received_at,
        };
        // Usually exactly one subscription accepts: find the last one so that
        // it can take the frame without a clone.
        let mut last: Option<&Subscription> = None;
        for sub in subscriptions.iter() {
            if (sub.accept)(&incoming)
                && let Some(prev) = last.replace(sub)
            {
                let _ = prev.sender.send(incoming.clone());
            }
        }
        if let Some(sub) = last {
            let _ = sub.sender.send(incoming);
        }
    }

    fn mark_heard(&self, system: u8, component: u8, at: Instant) {
        let mut heard = self.heard.lock();
        if heard.first_other_system.is_none() && system != self.own_system_id {
            heard.first_other_system = Some(system);
        }
        heard.last_heard.insert((system, component), at);
    }

    pub fn has_heard(&self, system: u8, component: u8) -> bool {
        self.heard
            .lock()
            .last_heard
            .contains_key(&(system, component))
    }

    pub fn first_heard_system(&self) -> Option<u8> {
        self.heard.lock().first_other_system
    }

    /// When (system, component) was last heard.
    pub fn last_heard(&self, system: u8, component: u8) -> Option<Instant> {
        self.heard
            .lock()
            .last_heard
            .get(&(system, component))
            .copied()
    }

    /// Register a subscription; on a closing link the receiver is returned
    /// already disconnected.
    pub fn subscribe(
        &self,
        accept: Box<dyn Fn(&IncomingFtp) -> bool + Send + Sync>,
    ) -> (u64, crossbeam_channel::Receiver<IncomingFtp>) {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let id = self.next_id();
        let mut subs = self.subscriptions.write();
        if !self.is_closed() {
            subs.push(Subscription { id, accept, sender });
        }
        (id, receiver)
    }

    pub fn unsubscribe(&self, id: u64) {
        let removed = {
            let mut subs = self.subscriptions.write();
            subs.iter()
                .position(|s| s.id == id)
                .map(|pos| subs.remove(pos))
        };
        // Dropped outside the lock: the predicate may own anything.
        drop(removed);
    }

    pub fn on_close(&self, hook: CloseHook) -> u64 {
        let mut hooks = self.hooks.lock();
        if self.is_closing() {
            // Too late to run it as part of close; the caller sees a closed link anyway.
            return 0;
        }
        let id = self.next_id();
        hooks.push((id, hook));
        id
    }

    pub fn remove_close_hook(&self, id: u64) {
        let removed = {
            let mut hooks = self.hooks.lock();
            hooks
                .iter()
                .position(|(h, _)| *h == id)
                .map(|pos| hooks.remove(pos))
        };
        drop(removed);
    }

    /// Close: hooks (outside every lock, link still usable), then stop I/O,
    /// join threads, disconnect subscriptions. Idempotent; a concurrent or
    /// re-entrant call returns at once.
    pub fn close(&self) {
        let hooks = {
            let mut hooks = self.hooks.lock();
            if self
                .state
                .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            std::mem::take(&mut *hooks)
        };
        for (_, hook) in hooks {
            // A panicking hook must not stop the rest of the close.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook));
        }
        self.state.store(CLOSED, Ordering::Release);
        drop(self.stop_heartbeat.lock().take());
        self.transport.shutdown();
        let me = std::thread::current().id();
        loop {
            let threads = std::mem::take(&mut *self.threads.lock());
            if threads.is_empty() {
                break;
            }
            for handle in threads {
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
        let subs = std::mem::take(&mut *self.subscriptions.write());
        drop(subs);
    }
}

/// The error returned by operations on a closed link.
pub(crate) fn closed_error() -> FtpError {
    FtpError::new(FtpResult::Cancelled, "the link is closed")
}
