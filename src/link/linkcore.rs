//! The shared state behind every [`Link`](super::Link) handle: the transport
//! writer, frame routing to subscriptions, the heard table, close hooks and the
//! I/O threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::{Condvar, Mutex, RwLock};

use super::fasthash::FastMap;
use super::frame::{
    FrameParser, FrameWriter, IFLAG_SIGNED, MAX_FRAME_LEN, RawFrame, SIGNATURE_LEN,
    split_ftp_payload,
};
use super::replies::{Closed, ReadGate, ReplyQueue, ReplyRoutes};
use super::signing::{SIGNING_KEY_LEN, SigningState, SigningStats};
use super::{IncomingFtp, Route};
use crate::protocol::{FILE_TRANSFER_PROTOCOL_ID, FtpPacket};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Interval between our HEARTBEATs.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// Most (system, component) pairs remembered as heard; the least recently
/// heard is forgotten first, so a sender cycling through ids cannot grow it.
const MAX_HEARD: usize = 1024;

/// Where framed bytes go. Called under the link's send lock (so one frame is
/// written at a time and frames leave in sequence order), except on
/// transports that send each frame as a datagram.
pub(crate) trait Transport: Send + Sync {
    /// Write one complete frame to every peer.
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()>;
    /// Write one complete frame to one route only. Single-peer transports
    /// have one route, so the default writes to it.
    fn write_frame_to(&self, _route: Route, frame: &[u8]) -> FtpOutcome<()> {
        self.write_frame(frame)
    }
    /// Whether there is anybody to send to (false for a `udpin` link that
    /// has heard nothing yet, or a `tcpin` link without a client).
    fn has_peer(&self) -> bool {
        true
    }
    /// Unblock and stop any I/O (called once when the link closes, after hooks).
    fn shutdown(&self) {}
    /// Whether each frame is one datagram (UDP): written whole, so it need
    /// not be written under the send lock.
    fn sends_datagrams(&self) -> bool {
        false
    }
    /// The input, when any thread may read it (see `link::replies`).
    fn shared_input(&self) -> Option<&dyn SharedInput> {
        None
    }
    /// Write the frames of a send batch, in order (datagram transports:
    /// see [`LinkCore::batch_sends`]). The default writes one at a time.
    fn write_batch(&self, batch: &SendBatch) {
        for (dest, frame) in batch.frames() {
            let _ = match dest {
                Dest::All => self.write_frame(frame),
                Dest::Route(route) => self.write_frame_to(route, frame),
            };
        }
    }
}

/// Where a frame goes: every peer, or one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    All,
    Route(Route),
}

/// Most frames a send batch holds before it is written.
pub(crate) const SEND_BATCH: usize = 64;

/// Frames one thread sends on one datagram link, held back to be written
/// together (see [`LinkCore::batch_sends`]).
pub(crate) struct SendBatch {
    /// The link collecting (its `batch_key`); 0: none.
    owner: u64,
    /// Each frame's destination and end in `bytes`.
    frames: Vec<(Dest, usize)>,
    bytes: Vec<u8>,
}

impl SendBatch {
    pub(crate) const fn new() -> SendBatch {
        SendBatch {
            owner: 0,
            frames: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Add a frame.
    pub(crate) fn push(&mut self, dest: Dest, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.frames.push((dest, self.bytes.len()));
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes.clear();
    }

    /// The frames in the order they were sent.
    pub(crate) fn frames(&self) -> impl Iterator<Item = (Dest, &[u8])> {
        let mut start = 0;
        self.frames.iter().map(move |&(dest, end)| {
            let frame = &self.bytes[start..end];
            start = end;
            (dest, frame)
        })
    }
}

/// The next link's `batch_key` (0 means no link).
static NEXT_BATCH_KEY: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's send batch (one link at a time).
    static OUTBOX: std::cell::RefCell<SendBatch> = const { std::cell::RefCell::new(SendBatch::new()) };
}

/// Input that any thread may read, one at a time (the holder of the link's
/// read token): a UDP socket.
pub(crate) trait SharedInput: Send + Sync {
    /// Read what arrives until `until` at most (at most 100 ms ahead is
    /// asked) and route it through [`LinkCore::ingest`]: the datagrams
    /// waiting when the first arrives (one system call, at most
    /// `transport::RECV_BATCH`). Only the holder of the read token calls it.
    /// Returns how many datagrams (or reads) it took.
    fn read_once(&self, core: &LinkCore, until: Instant) -> usize;
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
    /// Whether frames with an invalid size field are delivered too.
    pub invalid_too: bool,
    /// Takes the frames read by the link's own threads, on that thread.
    pub inline: Option<InlineHandler>,
}

/// See `Link::subscribe_requests_inline`.
pub(crate) type InlineHandler = Arc<Inline>;

/// A subscription's handler of the frames read by the link's own threads.
pub(crate) struct Inline {
    /// Takes one frame, on the thread that read it.
    pub take: Box<dyn Fn(IncomingFtp) + Send + Sync>,
    /// Runs on that thread once every frame of the read was taken (a UDP
    /// read is up to `transport::RECV_BATCH` datagrams), before the sends
    /// of the read leave.
    pub end_of_read: Box<dyn Fn() + Send + Sync>,
}

thread_local! {
    /// The inline handlers that took frames of this thread's current read,
    /// and how deeply reads nest (see [`LinkCore::reading`]).
    static READ: std::cell::RefCell<(usize, Vec<InlineHandler>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

#[derive(Default)]
struct HeardTable {
    first_other_system: Option<u8>,
    last_heard: FastMap<(u8, u8), Instant>,
    /// The route each system was last heard on.
    routes: FastMap<u8, Route>,
}

type CloseHook = Box<dyn FnOnce() + Send>;

/// Lifecycle states of a link.
const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

/// Shared state of one link. Threads hold `Arc<LinkCore>`; the user-visible
/// handle wraps it and closes it when the last handle drops.
pub(crate) struct LinkCore {
    /// This link in a thread's send batch (unique for the process's life,
    /// unlike the core's address).
    batch_key: u64,
    own_system_id: u8,
    own_component_id: u8,
    byte_rate: Option<u32>,
    state: AtomicU8,
    writer: Mutex<FrameWriter>,
    /// MAVLink 2 signing: key, timestamps, streams, counters. Locked after
    /// `writer` when sending; alone when a frame arrives.
    signing: Mutex<SigningState>,
    transport: Box<dyn Transport>,
    fed: Mutex<FrameParser>,
    subscriptions: RwLock<Vec<Subscription>>,
    /// Replies to the clients of this link, by sender.
    replies: ReplyRoutes,
    /// Who reads a shared input.
    gate: Arc<ReadGate>,
    heard: Mutex<HeardTable>,
    hooks: Mutex<Vec<(u64, CloseHook)>>,
    next_id: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop_heartbeat: Mutex<Option<Sender<()>>>,
    local_addr: Mutex<Option<std::net::SocketAddr>>,
    /// Bytes of every frame this link has sent (its airtime on a link of
    /// known rate: a server paces its bursts by it).
    sent_bytes: AtomicU64,
    /// Signalled when a transport learns a peer (and on close).
    peer_seen: Condvar,
    peer_lock: Mutex<()>,
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
            batch_key: NEXT_BATCH_KEY.fetch_add(1, Ordering::Relaxed),
            own_system_id,
            own_component_id,
            byte_rate,
            state: AtomicU8::new(OPEN),
            writer: Mutex::new(FrameWriter::new(own_system_id, own_component_id)),
            signing: Mutex::new(SigningState::default()),
            transport,
            fed: Mutex::new(FrameParser::new()),
            subscriptions: RwLock::new(Vec::new()),
            replies: ReplyRoutes::default(),
            gate: Arc::new(ReadGate::new()),
            heard: Mutex::new(HeardTable::default()),
            hooks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            threads: Mutex::new(Vec::new()),
            stop_heartbeat: Mutex::new(None),
            local_addr: Mutex::new(None),
            sent_bytes: AtomicU64::new(0),
            peer_seen: Condvar::new(),
            peer_lock: Mutex::new(()),
        })
    }

    /// A transport learnt a peer: wake `wait_for_peer`.
    pub fn peer_learned(&self) {
        let _guard = self.peer_lock.lock();
        self.peer_seen.notify_all();
    }

    /// Wait until the transport has a peer, the deadline passes or the link closes.
    pub fn wait_for_peer(&self, deadline: Instant) -> bool {
        let mut guard = self.peer_lock.lock();
        loop {
            if self.is_closing() {
                return false;
            }
            if self.transport.has_peer() {
                return true;
            }
            // Re-check at least every 100 ms: a peer may also appear without
            // a notification (tcpin accepts on its own thread).
            let wake = deadline.min(Instant::now() + Duration::from_millis(100));
            if self.peer_seen.wait_until(&mut guard, wake).timed_out() && Instant::now() >= deadline
            {
                return !self.is_closing() && self.transport.has_peer();
            }
        }
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

    /// Bytes of every frame sent so far.
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Ordering::Relaxed)
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
        self.send_frame(
            |w| {
                w.heartbeat();
            },
            Dest::All,
        )
    }

    fn write_to(&self, dest: Dest, frame: &[u8]) -> FtpOutcome<()> {
        match dest {
            Dest::All => self.transport.write_frame(frame),
            Dest::Route(route) => self.transport.write_frame_to(route, frame),
        }
    }

    /// Build a frame with `build` under the send lock and write it to
    /// `dest`: under the lock on byte streams (frames must not interleave
    /// and leave in sequence order), after it on datagram transports (unless
    /// signed), whose
    /// datagrams arrive whole anyway (the frame is copied out first, so that
    /// clients do not queue behind each other's system calls). Inside
    /// [`LinkCore::batch_sends`] on this thread an unsigned datagram joins
    /// the batch instead.
    fn send_frame(&self, build: impl FnOnce(&mut FrameWriter), dest: Dest) -> FtpOutcome<()> {
        let mut writer = self.writer.lock();
        // Checked under the lock: close() takes it after marking the link
        // closed, so no write starts once close has returned.
        if self.is_closed() {
            return Err(closed_error());
        }
        build(&mut writer);
        let frame = self.signing.lock().finish(&mut writer);
        self.sent_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        // Signed frames stay in order too: a receiver drops a signed frame
        // whose timestamp is not newer than the last one of the stream, so
        // two frames overtaking each other between threads would lose one.
        let signed = frame.len() > 2 && frame[0] == 0xFD && frame[2] & IFLAG_SIGNED != 0;
        if !self.transport.sends_datagrams() || signed {
            let _sending = SendingHere::enter();
            return self.write_to(dest, frame);
        }
        let me = self.batch_key;
        let batched = OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            if o.owner != me {
                return None;
            }
            o.push(dest, frame);
            Some(o.len() >= SEND_BATCH)
        });
        if let Some(full) = batched {
            drop(writer);
            if full {
                self.flush_batch();
            }
            return Ok(());
        }
        let mut copy = [0u8; MAX_FRAME_LEN];
        let n = frame.len().min(MAX_FRAME_LEN);
        copy[..n].copy_from_slice(&frame[..n]);
        drop(writer);
        self.write_to(dest, &copy[..n])
    }

    /// Run `f`; the unsigned frames this thread sends on this link meanwhile
    /// (a datagram link) are held back and written together when `f`
    /// returns (or every [`SEND_BATCH`] frames), in order: one `sendmmsg`
    /// instead of a system call per frame. Frames of other links, and all
    /// frames when this thread already batches, go out at once as usual.
    /// A link closed meanwhile drops the held frames.
    pub fn batch_sends<R>(&self, f: impl FnOnce() -> R) -> R {
        if !self.transport.sends_datagrams() {
            return f();
        }
        let me = self.batch_key;
        let began = OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            if o.owner != 0 {
                return false;
            }
            o.owner = me;
            true
        });
        if !began {
            return f();
        }
        /// Writes the batch and ends it, also when `f` panics.
        struct End<'a>(&'a LinkCore);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.release_sends();
            }
        }
        let _end = End(self);
        f()
    }

    /// Start holding back the frames this thread sends on this link (a
    /// datagram link), as in [`LinkCore::batch_sends`] but until
    /// [`LinkCore::release_sends`]: a client between replies it read
    /// together. Nothing when this thread already batches.
    fn hold_sends(&self) {
        let me = self.batch_key;
        OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            if o.owner == 0 {
                o.owner = me;
            }
        });
    }

    /// Write the frames held since [`LinkCore::hold_sends`] and stop
    /// holding (before the thread waits or reads, when it took its last
    /// queued reply, and when its operation ends).
    pub fn release_sends(&self) {
        let me = self.batch_key;
        let holding = OUTBOX.with(|o| o.borrow().owner == me);
        if holding {
            self.flush_batch();
            OUTBOX.with(|o| o.borrow_mut().owner = 0);
        }
    }

    /// Write this thread's held frames when they are this link's (see
    /// [`LinkCore::batch_sends`]).
    fn flush_batch(&self) {
        OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            if o.owner != self.batch_key || o.is_empty() {
                return;
            }
            if !self.is_closed() {
                self.transport.write_batch(&o);
            }
            o.clear();
        });
    }

    /// Frame and send one FTP packet (clients): to the route where
    /// `target_system` was last heard, else to every peer; `NoSystem` when
    /// the transport has no peer at all.
    pub fn send_ftp(
        &self,
        target_system: u8,
        target_component: u8,
        packet: &FtpPacket,
    ) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let route = match target_system {
            0 => None,
            sys => self.heard.lock().routes.get(&sys).copied(),
        };
        if route.is_none() && !self.transport.has_peer() {
            return Err(FtpError::new(
                FtpResult::NoSystem,
                "no peer on the link yet: nothing was heard, so there is nowhere to send",
            ));
        }
        self.send_frame(
            |w| {
                w.ftp(target_system, target_component, packet);
            },
            route.map_or(Dest::All, Dest::Route),
        )
    }

    /// Frame and send one FTP packet on one route only (servers' replies).
    pub fn send_ftp_via(
        &self,
        route: Route,
        target_system: u8,
        target_component: u8,
        packet: &FtpPacket,
    ) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        self.send_frame(
            |w| {
                w.ftp(target_system, target_component, packet);
            },
            Dest::Route(route),
        )
    }

    /// Bytes received by a custom or simulated link.
    pub fn feed(&self, bytes: &[u8]) -> FtpOutcome<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let mut parser = self.fed.lock();
        self.ingest_from(&mut parser, bytes, Route::LOCAL, false, Instant::now());
        Ok(())
    }

    /// Parse `bytes` read by one of the link's own threads with `parser`
    /// and route every frame; returns how many valid frames the bytes
    /// completed that signing let through.
    pub fn ingest(&self, parser: &mut FrameParser, bytes: &[u8], route: Route) -> usize {
        self.ingest_from(parser, bytes, route, true, Instant::now())
    }

    /// [`LinkCore::ingest`] of bytes received at `received_at`.
    pub fn ingest_at(
        &self,
        parser: &mut FrameParser,
        bytes: &[u8],
        route: Route,
        received_at: Instant,
    ) -> usize {
        self.ingest_from(parser, bytes, route, true, received_at)
    }

    /// [`LinkCore::ingest`]; `own_thread` says whether inline handlers may
    /// run on this thread (false for bytes the application feeds).
    fn ingest_from(
        &self,
        parser: &mut FrameParser,
        bytes: &[u8],
        route: Route,
        own_thread: bool,
        received_at: Instant,
    ) -> usize {
        let mut frames = 0;
        let mut push = || {
            parser.push(bytes, |frame| {
                if self.on_frame(frame, received_at, route, own_thread) {
                    frames += 1;
                }
            })
        };
        if own_thread {
            self.reading(push);
        } else {
            push();
        }
        frames
    }

    /// Run `f`, which routes the frames of one read; the inline handlers
    /// that took frames meanwhile get their `end_of_read` when it returns
    /// (nested calls: when the outermost returns), also when `f` panics.
    pub fn reading<R>(&self, f: impl FnOnce() -> R) -> R {
        READ.with(|r| r.borrow_mut().0 += 1);
        /// Ends the read, also when `f` panics.
        struct End;
        impl Drop for End {
            fn drop(&mut self) {
                let done = READ.with(|r| {
                    let mut r = r.borrow_mut();
                    r.0 -= 1;
                    if r.0 == 0 {
                        std::mem::take(&mut r.1)
                    } else {
                        Vec::new()
                    }
                });
                for h in done {
                    (h.end_of_read)();
                }
            }
        }
        let _end = End;
        f()
    }

    /// Route one frame; false when signing refused it (it then counts as
    /// never heard: no heard table, no peer, no subscriber sees it).
    fn on_frame(
        &self,
        frame: RawFrame<'_>,
        received_at: Instant,
        route: Route,
        own_thread: bool,
    ) -> bool {
        if !self.signing.lock().check(&frame) {
            return false;
        }
        self.mark_heard(frame.system_id, frame.component_id, received_at, route);
        if frame.message_id != FILE_TRANSFER_PROTOCOL_ID {
            return true;
        }
        let (target_system, target_component, ftp) = split_ftp_payload(frame.payload);
        let (packet, invalid_size) = match FtpPacket::parse(ftp) {
            Ok(p) => (p, None),
            Err(bad) => (bad.header, Some(bad.size)),
        };
        let incoming = IncomingFtp {
            route,
            source_system: frame.system_id,
            source_component: frame.component_id,
            target_system,
            target_component,
            packet,
            received_at,
            invalid_size,
        };
        // Replies to our own ids go to the clients of their sender (one
        // lookup); subscriptions see every frame they accept.
        let to_clients = incoming.packet.opcode.is_reply()
            && invalid_size.is_none()
            && target_system == self.own_system_id
            && target_component == self.own_component_id;
        let subscriptions = self.subscriptions.read();
        // Usually one subscription at most accepts: find the last one so that
        // it can take the frame without a clone.
        let mut last: Option<&Subscription> = None;
        let mut handler: Option<InlineHandler> = None;
        for sub in subscriptions.iter() {
            if (invalid_size.is_none() || sub.invalid_too) && (sub.accept)(&incoming) {
                // Rarely more than one inline handler: the others queue.
                if let Some(h) = &sub.inline
                    && own_thread
                    && handler.is_none()
                {
                    handler = Some(Arc::clone(h));
                    continue;
                }
                if let Some(prev) = last.replace(sub) {
                    deliver(&prev.sender, incoming.clone());
                }
            }
        }
        // The last taker gets the frame itself, the others a copy.
        let mut frame = Some(incoming);
        let mut hand = |more: bool| if more { frame.clone() } else { frame.take() };
        if let Some(sub) = last
            && let Some(f) = hand(to_clients || handler.is_some())
        {
            deliver(&sub.sender, f);
        }
        drop(subscriptions);
        if to_clients && let Some(f) = hand(handler.is_some()) {
            self.replies.route(f);
        }
        // Outside the lock: the handler may take a while (a server's reply).
        if let Some(h) = handler
            && let Some(f) = hand(false)
        {
            (h.take)(f);
            // Its end of read comes when the read's last frame was taken.
            READ.with(|r| {
                let mut r = r.borrow_mut();
                if !r.1.iter().any(|o| Arc::ptr_eq(o, &h)) {
                    r.1.push(h);
                }
            });
        }
        true
    }

    /// See `Link::set_signing`.
    pub fn set_signing(&self, key: [u8; SIGNING_KEY_LEN], link_id: u8, require: bool) {
        self.signing.lock().set(key, link_id, require);
    }

    /// See `Link::clear_signing`.
    pub fn clear_signing(&self) {
        self.signing.lock().clear();
    }

    pub fn signing_stats(&self) -> SigningStats {
        self.signing.lock().stats()
    }

    pub fn signature_bytes(&self) -> u32 {
        if self.signing.lock().is_signing() {
            SIGNATURE_LEN as u32
        } else {
            0
        }
    }

    fn mark_heard(&self, system: u8, component: u8, at: Instant, route: Route) {
        let mut heard = self.heard.lock();
        if heard.first_other_system.is_none() && system != self.own_system_id {
            heard.first_other_system = Some(system);
        }
        if heard.routes.get(&system) != Some(&route) {
            heard.routes.insert(system, route);
        }
        let key = (system, component);
        if let Some(t) = heard.last_heard.get_mut(&key) {
            *t = at;
            return;
        }
        if heard.last_heard.len() >= MAX_HEARD
            && let Some(oldest) = heard
                .last_heard
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| *k)
        {
            heard.last_heard.remove(&oldest);
        }
        heard.last_heard.insert(key, at);
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

    /// Register a subscription (bounded when `capacity` is given; frames with
    /// an invalid size field only when `invalid_too`); on a closing link the
    /// receiver is returned already disconnected.
    pub fn subscribe(
        &self,
        accept: Box<dyn Fn(&IncomingFtp) -> bool + Send + Sync>,
        capacity: Option<usize>,
        invalid_too: bool,
        inline: Option<InlineHandler>,
    ) -> (u64, crossbeam_channel::Receiver<IncomingFtp>) {
        let (sender, receiver) = match capacity {
            Some(n) => crossbeam_channel::bounded(n),
            None => crossbeam_channel::unbounded(),
        };
        let id = self.next_id();
        let mut subs = self.subscriptions.write();
        if !self.is_closed() {
            self.gate.subscribers.fetch_add(1, Ordering::SeqCst);
            subs.push(Subscription {
                id,
                accept,
                sender,
                invalid_too,
                inline,
            });
        }
        (id, receiver)
    }

    pub fn unsubscribe(&self, id: u64) {
        let removed = {
            let mut subs = self.subscriptions.write();
            subs.iter().position(|s| s.id == id).map(|pos| {
                self.gate.subscribers.fetch_sub(1, Ordering::SeqCst);
                subs.remove(pos)
            })
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
        self.peer_learned();
        drop(self.stop_heartbeat.lock().take());
        self.transport.shutdown();
        // A write under the send lock that began before (a custom link's
        // send callback; a socket write is ended by the shutdown above)
        // ends before close returns; later sends see CLOSED. Not when close
        // comes from inside that write (it holds the lock).
        if !SendingHere::active() {
            drop(self.writer.lock());
        }
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
        self.replies.close_all();
    }

    /// Register a client's reply queue (listening to nobody yet); on a
    /// closing link it is closed at once.
    pub fn add_reply_queue(&self) -> Arc<ReplyQueue> {
        let queue = Arc::new(ReplyQueue::new(Arc::clone(&self.gate)));
        if self.is_closing() {
            queue.close();
        }
        queue
    }

    /// Let `queue` receive the replies of `to` instead of `from`'s.
    pub fn relisten(&self, queue: &Arc<ReplyQueue>, from: Option<(u8, u8)>, to: Option<(u8, u8)>) {
        self.replies.relisten(queue, from, to);
        if self.is_closed() {
            queue.close();
        }
    }

    /// A client starts (true) or ends (false) an operation: while engaged
    /// it reads the link itself when it waits.
    pub fn engage(&self, engaged: bool) {
        if engaged {
            self.gate.engaged.fetch_add(1, Ordering::SeqCst);
        } else {
            // Nothing this thread sent stays held past its operation.
            self.release_sends();
            if self.gate.engaged.fetch_sub(1, Ordering::SeqCst) == 1 {
                // Nobody engaged any more: the background reader takes over.
                self.gate.wake();
            }
        }
    }

    /// The next frame of `queue`, waiting until `deadline`: read from the
    /// link in this thread when nobody else does (see `link::replies`).
    pub fn recv_reply(
        &self,
        queue: &ReplyQueue,
        deadline: Instant,
    ) -> Result<Option<IncomingFtp>, Closed> {
        let input = self.transport.shared_input();
        let datagrams = self.transport.sends_datagrams();
        loop {
            if let Some(frame) = self.take_queued(queue, datagrams, false)? {
                return Ok(Some(frame));
            }
            if datagrams {
                self.release_sends();
            }
            if self.is_closed() {
                return Err(Closed);
            }
            if queue.take_interrupt() {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            if let Some(input) = input
                && self.gate.try_take()
            {
                loop {
                    let now = Instant::now();
                    input.read_once(self, deadline.min(now + Duration::from_millis(100)));
                    if queue.has_news() || Instant::now() >= deadline || self.is_closed() {
                        break;
                    }
                }
                self.gate.release();
                continue;
            }
            queue.wait(deadline, input.is_some());
        }
    }

    /// The frames of `queue` that arrive until `deadline`, without a
    /// wake-up for each (see `ReplyQueue::linger`): the oldest, at once if
    /// one is queued, else after the wait (None if nothing came).
    pub fn recv_reply_lingering(
        &self,
        queue: &ReplyQueue,
        deadline: Instant,
    ) -> Result<Option<IncomingFtp>, Closed> {
        let datagrams = self.transport.sends_datagrams();
        if let Some(frame) = self.take_queued(queue, datagrams, true)? {
            return Ok(Some(frame));
        }
        // Nothing queued: what this thread holds leaves before it waits.
        if datagrams {
            self.release_sends();
        }
        if self.is_closed() {
            return Err(Closed);
        }
        if !queue.take_interrupt() && Instant::now() < deadline {
            queue.linger(deadline);
        }
        self.take_queued(queue, datagrams, true)
    }

    /// The oldest frame of `queue`, if any. While more are queued behind it
    /// the caller comes back without waiting: what it sends meanwhile (the
    /// requests that refill its window) leaves together once it takes the
    /// last one (see `hold_sends`), or with `hold_last` (a lingering
    /// client, whose replies need no prompt answer) also what it sends for
    /// the last one, when it next waits or its operation ends.
    fn take_queued(
        &self,
        queue: &ReplyQueue,
        datagrams: bool,
        hold_last: bool,
    ) -> Result<Option<IncomingFtp>, Closed> {
        let Some((frame, more)) = queue.pop_more()? else {
            return Ok(None);
        };
        if datagrams {
            if more || hold_last {
                self.hold_sends();
            } else {
                self.release_sends();
            }
        }
        Ok(Some(frame))
    }

    /// The background reader of a shared input (its thread's body).
    pub fn run_background_reader(&self, input: &dyn SharedInput) {
        self.gate
            .run_background(|| self.is_closed(), |until| input.read_once(self, until));
    }
}

/// Hand a frame to a subscription; a full bounded one drops it (the
/// subscriber is behind: a lost frame, as on any datagram link).
fn deliver(sender: &Sender<IncomingFtp>, incoming: IncomingFtp) {
    match sender.try_send(incoming) {
        Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
    }
}

/// The error returned by operations on a closed link.
pub(crate) fn closed_error() -> FtpError {
    FtpError::new(FtpResult::Cancelled, "the link is closed")
}

thread_local! {
    /// Set while this thread writes a frame under a link's send lock.
    static SENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as writing under a send lock until dropped.
struct SendingHere;

impl SendingHere {
    fn enter() -> SendingHere {
        SENDING.with(|s| s.set(true));
        SendingHere
    }

    fn active() -> bool {
        SENDING.with(|s| s.get())
    }
}

impl Drop for SendingHere {
    fn drop(&mut self) {
        SENDING.with(|s| s.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Opcode;

    /// What a test transport was asked to write.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Wrote {
        One(Dest, u16),
        Batch(Vec<(Dest, u16)>),
    }

    /// A datagram transport that records its writes (by FTP seq).
    struct Recorder(Arc<Mutex<Vec<Wrote>>>);

    fn seq_of(frame: &[u8]) -> u16 {
        let mut seq = None;
        FrameParser::new().push(frame, |f| {
            let (_, _, ftp) = split_ftp_payload(f.payload);
            seq = Some(FtpPacket::parse(ftp).unwrap().seq);
        });
        seq.expect("one FTP frame")
    }

    impl Transport for Recorder {
        fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
            self.0.lock().push(Wrote::One(Dest::All, seq_of(frame)));
            Ok(())
        }
        fn write_frame_to(&self, route: Route, frame: &[u8]) -> FtpOutcome<()> {
            self.0
                .lock()
                .push(Wrote::One(Dest::Route(route), seq_of(frame)));
            Ok(())
        }
        fn sends_datagrams(&self) -> bool {
            true
        }
        fn write_batch(&self, batch: &SendBatch) {
            let frames = batch.frames().map(|(d, f)| (d, seq_of(f))).collect();
            self.0.lock().push(Wrote::Batch(frames));
        }
    }

    fn core() -> (Arc<LinkCore>, Arc<Mutex<Vec<Wrote>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (
            LinkCore::new(245, 190, None, Box::new(Recorder(Arc::clone(&log)))),
            log,
        )
    }

    fn send(core: &LinkCore, seq: u16, route: Option<Route>) {
        let p = FtpPacket::request(Opcode::ReadFile, seq);
        match route {
            Some(r) => core.send_ftp_via(r, 1, 1, &p).unwrap(),
            None => core.send_ftp(0, 0, &p).unwrap(),
        }
    }

    #[test]
    fn frames_sent_inside_batch_sends_leave_together_in_order() {
        let (core, log) = core();
        let a = Route::udp("127.0.0.1:1".parse().unwrap());
        let b = Route::udp("127.0.0.1:2".parse().unwrap());
        send(&core, 1, Some(a));
        core.batch_sends(|| {
            send(&core, 2, Some(a));
            send(&core, 3, None);
            // A nested batch joins the outer one.
            core.batch_sends(|| send(&core, 4, Some(b)));
            assert_eq!(log.lock().len(), 1, "held until the batch ends");
        });
        send(&core, 5, Some(b));
        let want = vec![
            Wrote::One(Dest::Route(a), 1),
            Wrote::Batch(vec![
                (Dest::Route(a), 2),
                (Dest::All, 3),
                (Dest::Route(b), 4),
            ]),
            Wrote::One(Dest::Route(b), 5),
        ];
        assert_eq!(*log.lock(), want);
        core.close();
    }

    #[test]
    fn a_full_batch_is_written_and_the_batch_goes_on() {
        let (core, log) = core();
        let n = SEND_BATCH as u16 + 3;
        core.batch_sends(|| (0..n).for_each(|s| send(&core, s, Some(Route::LOCAL))));
        let log = log.lock();
        let sizes: Vec<usize> = log
            .iter()
            .map(|w| match w {
                Wrote::Batch(f) => f.len(),
                Wrote::One(..) => 1000,
            })
            .collect();
        assert_eq!(sizes, vec![SEND_BATCH, 3]);
        let seqs: Vec<u16> = log
            .iter()
            .flat_map(|w| match w {
                Wrote::Batch(f) => f.iter().map(|x| x.1).collect::<Vec<_>>(),
                Wrote::One(..) => Vec::new(),
            })
            .collect();
        assert_eq!(seqs, (0..n).collect::<Vec<_>>());
        drop(log);
        core.close();
    }

    #[test]
    fn another_link_sends_at_once_inside_a_batch() {
        let (core, log) = core();
        let (other, other_log) = self::core();
        core.batch_sends(|| {
            send(&core, 1, Some(Route::LOCAL));
            send(&other, 2, Some(Route::LOCAL));
            assert_eq!(
                *other_log.lock(),
                vec![Wrote::One(Dest::Route(Route::LOCAL), 2)]
            );
        });
        assert_eq!(
            *log.lock(),
            vec![Wrote::Batch(vec![(Dest::Route(Route::LOCAL), 1)])]
        );
        core.close();
        other.close();
    }

    #[test]
    fn a_link_closed_during_a_batch_drops_the_held_frames() {
        let (core, log) = core();
        core.batch_sends(|| {
            send(&core, 1, Some(Route::LOCAL));
            core.close();
        });
        assert!(log.lock().is_empty());
    }

    #[test]
    fn signed_frames_are_never_held() {
        let (core, log) = core();
        core.set_signing([3u8; SIGNING_KEY_LEN], 1, false);
        core.batch_sends(|| {
            send(&core, 1, Some(Route::LOCAL));
            assert_eq!(log.lock().len(), 1);
        });
        assert_eq!(*log.lock(), vec![Wrote::One(Dest::Route(Route::LOCAL), 1)]);
        core.close();
    }

    #[test]
    fn held_sends_leave_when_released_and_when_an_operation_ends() {
        let (core, log) = core();
        core.hold_sends();
        send(&core, 1, Some(Route::LOCAL));
        send(&core, 2, Some(Route::LOCAL));
        assert!(log.lock().is_empty());
        core.release_sends();
        send(&core, 3, Some(Route::LOCAL));
        core.engage(true);
        core.hold_sends();
        send(&core, 4, Some(Route::LOCAL));
        core.engage(false);
        let r = Dest::Route(Route::LOCAL);
        assert_eq!(
            *log.lock(),
            vec![
                Wrote::Batch(vec![(r, 1), (r, 2)]),
                Wrote::One(r, 3),
                Wrote::Batch(vec![(r, 4)]),
            ]
        );
        core.close();
    }

    /// The frames of FTP requests with seqs `seqs`, from system 9 to 245/190.
    fn request_frames(seqs: &[u16]) -> Vec<Vec<u8>> {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&frames);
        let sink: super::super::FrameSink = Box::new(move |f: &[u8]| out.lock().push(f.to_vec()));
        let sender = LinkCore::new(9, 1, None, Box::new(SinkTransport(sink)));
        for &seq in seqs {
            let p = FtpPacket::request(Opcode::WriteFile, seq);
            sender.send_ftp_via(Route::LOCAL, 245, 190, &p).unwrap();
        }
        sender.close();
        frames.lock().clone()
    }

    #[test]
    fn an_inline_handler_hears_the_end_of_each_read_after_its_last_frame() {
        let (core, _log) = core();
        let events = Arc::new(Mutex::new(Vec::new()));
        let (taken, ended) = (Arc::clone(&events), Arc::clone(&events));
        let _sub = core.subscribe(
            Box::new(|_| true),
            Some(8),
            false,
            Some(Arc::new(Inline {
                take: Box::new(move |m| taken.lock().push(format!("take {}", m.packet.seq))),
                end_of_read: Box::new(move || ended.lock().push("end".to_string())),
            })),
        );
        let frames = request_frames(&[1, 2, 3]);
        let mut parser = FrameParser::new();
        core.reading(|| {
            for f in &frames {
                core.ingest(&mut parser, f, Route::LOCAL);
            }
        });
        // One read's bytes on their own (a TCP or serial read).
        core.ingest(&mut parser, &frames[0], Route::LOCAL);
        // A read without a frame for the handler ends nothing.
        core.reading(|| core.ingest(&mut parser, &[0x55, 0xAA], Route::LOCAL));
        // Fed bytes are queued, never handled inline.
        core.feed(&frames[1]).unwrap();
        let want = ["take 1", "take 2", "take 3", "end", "take 1", "end"];
        assert_eq!(*events.lock(), want);
        core.close();
    }
}
