//! Getting MAVLink frames in and out: URL parsing, UDP/TCP/serial transports,
//! an application-owned link (send callback + fed bytes), heartbeats, the table
//! of systems heard, and routing of FILE_TRANSFER_PROTOCOL frames to the
//! clients and servers that share the link.
//!
//! Routes: every received frame carries the [`Route`] it came in on (the UDP
//! source address on `udpin`, the connection on `tcpin`, [`Route::LOCAL`] on
//! single-peer links). A server answers through [`Link::send_ftp_via`] on the
//! request's route only; a client's [`Link::send_ftp`] goes to the route
//! where its target system was last heard (to every known peer while it was
//! never heard). `udpin` learns a peer only from a datagram that holds at
//! least one valid (CRC-checked) MAVLink frame and keeps at most
//! [`MAX_UDP_PEERS`] of them (the least recently heard is forgotten first);
//! the peer table only decides where heartbeats and not-yet-routed client
//! frames go, so replies never depend on it. Each `udpin` datagram is parsed
//! on its own: a frame cannot be spliced from two senders' datagrams.
//!
//! Threads: a custom link has one heartbeat thread and parses fed bytes in the
//! feeding thread; socket and serial links add one reader thread (tcpin: one
//! accept thread plus one reader per client). Reader threads notice a close
//! within about 100 ms (socket read timeouts).
//!
//! Batching (UDP only): one read takes every datagram waiting (`recvmmsg`,
//! up to 32), each still parsed and routed on its own, in arrival order.
//! Frames a thread sends while it handles such a read (a server's replies),
//! a server's burst slice or worker turn, and the requests a client sends
//! between replies it read together leave together (`sendmmsg`), in the
//! order sent, each to its own route; signed frames and byte-stream
//! transports are never held.
//!
//! Errors of `Link::open`: a malformed URL → `InvalidParameter`; a local
//! resource that cannot be opened (bind, serial device) → `FileIoError`;
//! `tcpout` with nothing accepting at the address (refused, 3 s timeout) →
//! `NoSystem`. Operations on a closed link → `Cancelled`.

mod alloc;
pub(crate) mod fasthash;
mod frame;
mod linkcore;
mod replies;
mod signing;
#[cfg(feature = "sim")]
pub mod sim;
mod transport;
mod url;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crossbeam_channel::Receiver;

use self::alloc::ClientIds;
use self::linkcore::{LinkCore, SinkTransport};
use crate::protocol::FtpPacket;
use crate::result::FtpOutcome;

pub(crate) use self::alloc::SessionIdClaim;
pub(crate) use self::alloc::random_u64;
pub(crate) use self::replies::READ_PAUSE;
pub use self::signing::{SIGNING_KEY_LEN, SigningStats};
pub use self::transport::MAX_UDP_PEERS;
pub use self::url::{Endpoint, parse_url};

/// Ground-station defaults used when an own id of 0 is given.
pub const DEFAULT_SYSTEM_ID: u8 = 245;
/// See [`DEFAULT_SYSTEM_ID`].
pub const DEFAULT_COMPONENT_ID: u8 = 190;

/// The transport peer a frame came from: a UDP source address (`udpin`), a
/// TCP connection (`tcpin`), or [`Route::LOCAL`] on links with a single peer
/// (udpout, tcpout, serial, custom, simulated). Opaque; compare and hash it.
///
/// cbindgen:ignore
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route(RouteKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RouteKind {
    Local,
    Udp(SocketAddr),
    Tcp(u64),
}

/// cbindgen:ignore
impl Route {
    /// The only route of a single-peer link.
    pub const LOCAL: Route = Route(RouteKind::Local);

    pub(crate) fn udp(addr: SocketAddr) -> Route {
        Route(RouteKind::Udp(addr))
    }

    pub(crate) fn tcp(connection: u64) -> Route {
        Route(RouteKind::Tcp(connection))
    }

    pub(crate) fn udp_addr(self) -> Option<SocketAddr> {
        match self.0 {
            RouteKind::Udp(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn tcp_id(self) -> Option<u64> {
        match self.0 {
            RouteKind::Tcp(id) => Some(id),
            _ => None,
        }
    }
}

/// A FILE_TRANSFER_PROTOCOL frame received on a link.
#[derive(Debug, Clone)]
pub struct IncomingFtp {
    /// The transport peer it came from (answer through [`Link::send_ftp_via`]).
    pub route: Route,
    /// Sender's system id (MAVLink header).
    pub source_system: u8,
    /// Sender's component id (MAVLink header).
    pub source_component: u8,
    /// `target_system` field of the message.
    pub target_system: u8,
    /// `target_component` field of the message.
    pub target_component: u8,
    /// The decoded FTP packet.
    pub packet: FtpPacket,
    /// When the frame was parsed.
    pub received_at: Instant,
    /// `Some(size)` when the packet's size field was 240–255 (more than a
    /// packet holds): `packet` then has every header field and no data. Such
    /// frames reach only subscriptions made with [`Link::subscribe_requests`].
    pub invalid_size: Option<u8>,
}

/// Called with each complete, framed MAVLink message to send on a custom link.
pub type FrameSink = Box<dyn Fn(&[u8]) + Send + Sync>;

/// One MAVLink connection, shared by any number of clients and servers.
/// Cloning gives another handle to the same connection. All methods may be
/// called from any thread. Dropping the last handle closes the link (a close
/// hook or subscription filter that owns a `Link` clone keeps it open: capture
/// a [`WeakLink`] there instead).
#[derive(Clone)]
pub struct Link {
    handle: Arc<LinkHandle>,
}

/// Closes the core when the last user handle goes away; threads hold only the core.
struct LinkHandle {
    core: Arc<LinkCore>,
    /// Session ids and seqs of the clients on this link.
    client_ids: ClientIds,
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.core.close();
    }
}

/// A handle that does not keep the link open (see [`Link::downgrade`]).
#[derive(Clone)]
pub struct WeakLink {
    handle: Weak<LinkHandle>,
}

impl WeakLink {
    /// The link, if some [`Link`] handle still exists.
    pub fn upgrade(&self) -> Option<Link> {
        self.handle.upgrade().map(|handle| Link { handle })
    }
}

/// A registration for incoming FTP frames; dropping it unregisters.
pub struct FtpSubscription {
    /// Frames accepted by the subscription's filter, in arrival order.
    /// Disconnects when the link closes.
    pub receiver: Receiver<IncomingFtp>,
    guard: SubscriptionGuard,
}

impl FtpSubscription {
    /// Identifier of this registration on its link (unique per link).
    pub fn id(&self) -> u64 {
        self.guard.id
    }
}

struct SubscriptionGuard {
    core: Weak<LinkCore>,
    id: u64,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            core.unsubscribe(self.id);
        }
    }
}

/// The replies a client receives: FTP ACKs and NAKs addressed to this
/// link's own ids from the (system, component) it listens to, in a bounded
/// queue (see `link::replies`). Dropping it unregisters.
pub(crate) struct ReplySubscription {
    core: Arc<LinkCore>,
    queue: Arc<replies::ReplyQueue>,
    source: Option<(u8, u8)>,
}

impl ReplySubscription {
    /// Receive the replies of `source` (system, component) from now on.
    pub fn listen_to(&mut self, source: (u8, u8)) {
        if self.source != Some(source) {
            self.core.relisten(&self.queue, self.source, Some(source));
            self.source = Some(source);
        }
    }

    /// Receive nobody's replies (until the next [`ReplySubscription::listen_to`]);
    /// drops what is queued.
    pub fn stop_listening(&mut self) {
        if self.source.is_some() {
            self.core.relisten(&self.queue, self.source, None);
            self.source = None;
        }
        self.queue.clear();
    }

    /// The next reply, waiting until `deadline` (None then); `Err` once
    /// the link is closed.
    pub fn recv(&self, deadline: Instant) -> Result<Option<IncomingFtp>, ()> {
        self.core.recv_reply(&self.queue, deadline).map_err(|_| ())
    }

    /// The next reply, or the replies that arrive until `deadline` with one
    /// wake-up for several (see `ReplyQueue::linger`): for a slow stream
    /// whose frames need no prompt answer.
    pub fn recv_lingering(&self, deadline: Instant) -> Result<Option<IncomingFtp>, ()> {
        self.core
            .recv_reply_lingering(&self.queue, deadline)
            .map_err(|_| ())
    }

    /// Replies dropped because the queue was full.
    #[allow(dead_code)]
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// A handle that makes the current or next wait of [`ReplySubscription::recv`]
    /// return at once (to look at a cancel).
    pub fn interrupter(&self) -> ReplyInterrupter {
        ReplyInterrupter(Arc::downgrade(&self.queue))
    }

    /// Mark the start of an operation until the guard drops: while
    /// engaged, waiting reads the link in the waiting thread.
    pub fn engage(&self) -> Engaged {
        self.core.engage(true);
        Engaged(Arc::clone(&self.core))
    }
}

impl Drop for ReplySubscription {
    fn drop(&mut self) {
        // Requests this thread held back (see `LinkCore::hold_sends`) leave now.
        self.core.release_sends();
        self.core.relisten(&self.queue, self.source, None);
    }
}

/// See [`ReplySubscription::interrupter`].
#[derive(Clone)]
pub(crate) struct ReplyInterrupter(Weak<replies::ReplyQueue>);

impl ReplyInterrupter {
    /// Whether the subscription still exists.
    pub fn is_live(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// Wake the owner's wait (once).
    pub fn interrupt(&self) {
        if let Some(queue) = self.0.upgrade() {
            queue.interrupt();
        }
    }
}

/// An operation in progress (see [`ReplySubscription::engage`]).
#[must_use]
pub(crate) struct Engaged(Arc<LinkCore>);

impl Drop for Engaged {
    fn drop(&mut self) {
        self.0.engage(false);
    }
}

/// Own ids with 0 meaning the ground-station defaults.
fn effective_ids(system: u8, component: u8) -> (u8, u8) {
    (
        if system == 0 {
            DEFAULT_SYSTEM_ID
        } else {
            system
        },
        if component == 0 {
            DEFAULT_COMPONENT_ID
        } else {
            component
        },
    )
}

impl Link {
    /// Open `udpin://HOST:PORT`, `udpout://HOST:PORT`, `tcpin://HOST:PORT`,
    /// `tcpout://HOST:PORT` or `serial:///dev/ttyX:BAUD` (also without `//`).
    /// Own ids 0 mean 245/190. Starts a 1 Hz HEARTBEAT (autopilot when the own
    /// component id is 1, ground station otherwise).
    ///
    /// `udpin` learns peers from the datagrams it receives (see the module
    /// doc: routes); `udpout` sends to the address and listens on the same
    /// socket; `tcpin` accepts any number of clients; `tcpout` connects (3 s
    /// timeout). A port of 0 for `udpin`/`tcpin` binds a free port (see
    /// [`Link::local_addr`]).
    pub fn open(url: &str, own_system_id: u8, own_component_id: u8) -> FtpOutcome<Link> {
        let endpoint = parse_url(url)?;
        let (system, component) = effective_ids(own_system_id, own_component_id);
        let core = transport::open(&endpoint, system, component)?;
        Ok(Link::from_core(core))
    }

    /// A link whose bytes the application moves: framed messages go out through
    /// `send`, received bytes come in through [`Link::feed`].
    ///
    /// `send` is called under the link's send lock (frames leave in order); it
    /// must not call back into this link's send functions.
    pub fn open_custom(
        own_system_id: u8,
        own_component_id: u8,
        send: FrameSink,
    ) -> FtpOutcome<Link> {
        let (system, component) = effective_ids(own_system_id, own_component_id);
        let core = LinkCore::new(system, component, None, Box::new(SinkTransport(send)));
        core.start_heartbeat()?;
        Ok(Link::from_core(core))
    }

    /// Wrap a started core in a user handle.
    pub(crate) fn from_core(core: Arc<LinkCore>) -> Link {
        Link {
            handle: Arc::new(LinkHandle {
                core,
                client_ids: ClientIds::new(),
            }),
        }
    }

    fn core(&self) -> &Arc<LinkCore> {
        &self.handle.core
    }

    /// Feed received bytes (any chunking) into a custom link. The frames are
    /// parsed and routed in the calling thread; this never blocks for long.
    pub fn feed(&self, bytes: &[u8]) -> FtpOutcome<()> {
        self.core().feed(bytes)
    }

    /// This end's system id.
    pub fn own_system_id(&self) -> u8 {
        self.core().own_system_id()
    }

    /// This end's component id.
    pub fn own_component_id(&self) -> u8 {
        self.core().own_component_id()
    }

    /// Send one FTP packet as FILE_TRANSFER_PROTOCOL (MAVLink 2) to the target
    /// (for clients): to the route where `target_system` was last heard, to
    /// every known peer while it was never heard (or for target 0). Sent from
    /// the calling thread. A `udpin`/`tcpin` link that knows no peer yet
    /// returns `NoSystem` (nothing can be sent; see [`Link::wait_for_peer`]).
    /// UDP send errors are ignored (a lost datagram); a TCP/serial write
    /// failure is `FileIoError`; a closed link is `Cancelled`.
    pub fn send_ftp(
        &self,
        target_system: u8,
        target_component: u8,
        packet: &FtpPacket,
    ) -> FtpOutcome<()> {
        self.core()
            .send_ftp(target_system, target_component, packet)
    }

    /// Send one FTP packet on `route` only (for servers: the route of the
    /// request it answers). A route that is gone (a closed TCP connection)
    /// drops the frame, as a lost datagram would. Errors as [`Link::send_ftp`]
    /// except that there is no `NoSystem`.
    pub fn send_ftp_via(
        &self,
        route: Route,
        target_system: u8,
        target_component: u8,
        packet: &FtpPacket,
    ) -> FtpOutcome<()> {
        self.core()
            .send_ftp_via(route, target_system, target_component, packet)
    }

    /// Run `f`; the frames this thread sends on this link meanwhile leave
    /// together when it returns (one `sendmmsg` on UDP links; other
    /// transports send each at once as usual). See `LinkCore::batch_sends`.
    pub(crate) fn batch_sends<R>(&self, f: impl FnOnce() -> R) -> R {
        self.core().batch_sends(f)
    }

    /// Wait until the link has a peer to send to (at once on single-peer
    /// links; `udpin` after a datagram with a valid MAVLink frame arrived;
    /// `tcpin` while a client is connected). False at `deadline` or when
    /// the link closes.
    pub fn wait_for_peer(&self, deadline: Instant) -> bool {
        self.core().wait_for_peer(deadline)
    }

    /// Receive every incoming FTP frame for which `accept` returns true.
    /// `accept` runs on the link's reader thread for every FTP frame: keep it
    /// cheap and non-blocking. On a closed link the receiver is disconnected.
    /// Frames with an invalid size field are never delivered here.
    pub fn subscribe(
        &self,
        accept: impl Fn(&IncomingFtp) -> bool + Send + Sync + 'static,
    ) -> FtpSubscription {
        let (id, receiver) = self.core().subscribe(Box::new(accept), None, false, None);
        FtpSubscription {
            receiver,
            guard: SubscriptionGuard {
                core: Arc::downgrade(self.core()),
                id,
            },
        }
    }

    /// Like [`Link::subscribe`], for servers: also delivers frames whose size
    /// field is invalid ([`IncomingFtp::invalid_size`]), and holds at most
    /// `capacity` frames; while it is full, further frames are dropped (as a
    /// full socket buffer drops datagrams) instead of growing without bound.
    pub fn subscribe_requests(
        &self,
        capacity: usize,
        accept: impl Fn(&IncomingFtp) -> bool + Send + Sync + 'static,
    ) -> FtpSubscription {
        let (id, receiver) =
            self.core()
                .subscribe(Box::new(accept), Some(capacity.max(1)), true, None);
        FtpSubscription {
            receiver,
            guard: SubscriptionGuard {
                core: Arc::downgrade(self.core()),
                id,
            },
        }
    }

    /// A queue for a client's replies (see [`ReplySubscription`]).
    pub(crate) fn subscribe_replies(&self) -> ReplySubscription {
        ReplySubscription {
            core: Arc::clone(self.core()),
            queue: self.core().add_reply_queue(),
            source: None,
        }
    }

    /// Like [`Link::subscribe_requests`], but frames read by the link's own
    /// reader threads (sockets, serial; on UDP also a client waiting for its
    /// replies) are handed to `handler` on that thread at once instead of
    /// being queued; frames fed by the application ([`Link::feed`],
    /// simulated links) are queued as usual, so that feeding never runs a
    /// handler. `handler` must be quick: it holds up the link's input.
    /// `end_of_read` runs on the same thread after the last frame of a read
    /// that gave `handler` frames (one UDP read is up to 32 datagrams),
    /// before that thread's sends of the read leave.
    pub(crate) fn subscribe_requests_inline(
        &self,
        capacity: usize,
        accept: impl Fn(&IncomingFtp) -> bool + Send + Sync + 'static,
        handler: Box<dyn Fn(IncomingFtp) + Send + Sync>,
        end_of_read: Box<dyn Fn() + Send + Sync>,
    ) -> FtpSubscription {
        let (id, receiver) = self.core().subscribe(
            Box::new(accept),
            Some(capacity.max(1)),
            true,
            Some(Arc::new(linkcore::Inline {
                take: handler,
                end_of_read,
            })),
        );
        FtpSubscription {
            receiver,
            guard: SubscriptionGuard {
                core: Arc::downgrade(self.core()),
                id,
            },
        }
    }

    /// Claim an FTP session id for a client of this link: non-zero, held by
    /// no other claim of this link until the returned claim is dropped, and
    /// chosen at random among the free ids (two processes rarely pick the
    /// same). `Busy` when all 255 are held.
    pub(crate) fn claim_session_id(&self) -> FtpOutcome<SessionIdClaim> {
        self.handle.client_ids.claim_session_id()
    }

    /// The seq for a client's next request: one counter per link, so that
    /// two clients of this link never send the same seq.
    pub(crate) fn next_seq(&self) -> u16 {
        self.handle.client_ids.next_seq()
    }

    /// Note a seq received from a server on this link: later requests of
    /// every client of the link use higher seqs (mod 2^16), so that none
    /// reuses a seq the server used (burst packets, cached replies).
    pub(crate) fn saw_seq(&self, seq: u16) {
        self.handle.client_ids.saw_seq(seq)
    }

    /// The first system id other than our own that was heard on this link.
    pub fn first_heard_system(&self) -> Option<u8> {
        self.core().first_heard_system()
    }

    /// Whether any message from (system, component) was heard.
    pub fn has_heard(&self, system: u8, component: u8) -> bool {
        self.core().has_heard(system, component)
    }

    /// When any message from (system, component) was last heard.
    pub fn last_heard(&self, system: u8, component: u8) -> Option<Instant> {
        self.core().last_heard(system, component)
    }

    /// Link capacity in bytes per second when known (serial: baud / 10;
    /// simulated links: the configured rate of the outgoing direction).
    pub fn byte_rate(&self) -> Option<u32> {
        self.core().byte_rate()
    }

    /// Bytes of every frame this link has sent (heartbeats included).
    pub(crate) fn sent_bytes(&self) -> u64 {
        self.core().sent_bytes()
    }

    /// The local socket address of a UDP/TCP link (useful after binding port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core().local_addr()
    }

    /// Whether [`Link::close`] has completed (I/O stopped).
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// A handle that does not keep the link open.
    pub fn downgrade(&self) -> WeakLink {
        WeakLink {
            handle: Arc::downgrade(&self.handle),
        }
    }

    /// Run `hook` once when the link closes, before its I/O stops
    /// (clients cancel their work, servers stop). Returns an id for
    /// [`Link::remove_close_hook`]. Hooks run in the thread that closes the
    /// link, outside every lock, and may still send. On a link already
    /// closing the hook is dropped without running and 0 is returned.
    pub fn on_close(&self, hook: Box<dyn FnOnce() + Send>) -> u64 {
        self.core().on_close(hook)
    }

    /// Forget a hook registered with [`Link::on_close`].
    pub fn remove_close_hook(&self, id: u64) {
        self.core().remove_close_hook(id)
    }

    /// MAVLink 2 message signing (docs/PROTOCOL_NOTES.md §12): from now on
    /// every frame this link sends (heartbeats included) is signed with `key`
    /// and `link_id`, its timestamp (10 µs units since 2015-01-01 UTC) after
    /// every earlier one of this link and not behind the system clock.
    /// An incoming frame is verified when it carries a correct signature and,
    /// per (sysid, compid, link id) stream, a timestamp newer than the
    /// stream's last one (the first frame of a stream at most one minute
    /// behind this link's timestamp). With `require`, every other frame
    /// (unsigned, MAVLink 1, another key, altered, replayed) is dropped before
    /// routing: it never reaches the heard table, the peer table or any
    /// client or server, so a server on this link never answers it. Without
    /// `require` such frames are accepted as unsigned ones (what the MAVLink
    /// reference implementations do when they accept unsigned frames: a
    /// signature can be stripped anyway). Everything is counted
    /// ([`Link::signing_stats`]). Calling it again replaces the key and
    /// switches (a different key forgets the streams).
    pub fn set_signing(&self, key: &[u8; SIGNING_KEY_LEN], link_id: u8, require: bool) {
        self.core().set_signing(*key, link_id, require)
    }

    /// Stop signing: frames are sent unsigned and every frame is accepted
    /// again (signatures are no longer looked at). Counters stay.
    pub fn clear_signing(&self) {
        self.core().clear_signing()
    }

    /// The signing counters since the link opened.
    pub fn signing_stats(&self) -> SigningStats {
        self.core().signing_stats()
    }

    /// Bytes a signature adds to each frame this link sends now (13 while
    /// it signs, else 0): for pacing by wire size.
    pub(crate) fn signature_bytes(&self) -> u32 {
        self.core().signature_bytes()
    }

    /// Close the link: run the close hooks, stop the I/O threads, disconnect
    /// subscriptions. Idempotent (a concurrent or re-entrant call returns at once).
    pub fn close(&self) {
        self.core().close()
    }
}
