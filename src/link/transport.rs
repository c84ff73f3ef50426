//! UDP, TCP and serial transports: each opens its socket or device, builds the
//! link core with a writer, and starts the reader thread(s). Readers use
//! ~100 ms timeouts so that they notice a close quickly.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::fasthash::FastMap;
use super::frame::FrameParser;
use super::linkcore::{Dest, LinkCore, SEND_BATCH, SendBatch, SharedInput, Transport};
use super::{Endpoint, Route};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Read timeout of every reader: the longest a reader takes to see a close.
const POLL: Duration = Duration::from_millis(100);
/// tcpout connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// tcpout reconnect attempt timeout (short: a close waits for it).
const RECONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// A TCP write blocked longer than this drops the client (tcpin) or fails (tcpout).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many UDP peers a `udpin` link remembers, the least recently heard
/// forgotten first. Heartbeats go to every one of them (a vehicle that stops
/// hearing its ground station's heartbeat may trigger its GCS-loss failsafe,
/// so a fleet of hundreds must all hear it), and so do client frames to
/// systems not heard yet; replies go by route and never depend on this table.
/// Only a datagram holding a valid (CRC-checked) frame adds a peer.
pub const MAX_UDP_PEERS: usize = 1024;

/// Open the transport for `endpoint`, start its threads and the heartbeat.
pub(crate) fn open(endpoint: &Endpoint, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    match endpoint {
        Endpoint::UdpIn { host, port } => open_udp_in(host, *port, system, component),
        Endpoint::UdpOut { host, port } => open_udp_out(host, *port, system, component),
        Endpoint::TcpIn { host, port } => open_tcp_in(host, *port, system, component),
        Endpoint::TcpOut { host, port } => open_tcp_out(host, *port, system, component),
        Endpoint::Serial { path, baud } => open_serial(path, *baud, system, component),
    }
}

fn resolve(host: &str, port: u16) -> FtpOutcome<Vec<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FtpError::invalid(format!("cannot resolve '{host}': {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(FtpError::invalid(format!(
            "'{host}' resolves to no address"
        )));
    }
    // "localhost" should mean 127.0.0.1 first, as for MAVSDK and pymavlink.
    addrs.sort_by_key(|a| !a.is_ipv4());
    Ok(addrs)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn spawn(
    core: &Arc<LinkCore>,
    name: &str,
    body: impl FnOnce(Arc<LinkCore>) + Send + 'static,
) -> FtpOutcome<()> {
    let worker = Arc::clone(core);
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || body(worker))
        .map_err(|e| FtpError::io(format!("cannot start thread {name}"), &e))?;
    core.add_thread(handle);
    Ok(())
}

/// Start the heartbeat; on failure close what was started.
fn finish(core: Arc<LinkCore>) -> FtpOutcome<Arc<LinkCore>> {
    if let Err(e) = core.start_heartbeat() {
        core.close();
        return Err(e);
    }
    Ok(core)
}

// ---------------------------------------------------------------- UDP

struct UdpShared {
    socket: UdpSocket,
    /// udpin: datagrams teach peers (each parsed on its own); udpout: the
    /// peer is fixed.
    learn_peers: bool,
    /// udpin: the peers heard, with when they were last heard (at most
    /// [`MAX_UDP_PEERS`]); udpout: the fixed target (never changes).
    peers: Mutex<FastMap<SocketAddr, Instant>>,
    /// Used by the holder of the read token only.
    reader: Mutex<UdpReader>,
}

/// What reading a UDP socket needs.
struct UdpReader {
    batch: RecvBatch,
    parser: FrameParser,
    /// The last read found nothing waiting: wait for input before reading.
    poll_first: bool,
}

impl UdpShared {
    fn new(socket: UdpSocket, learn_peers: bool, peers: FastMap<SocketAddr, Instant>) -> UdpShared {
        UdpShared {
            socket,
            learn_peers,
            peers: Mutex::new(peers),
            reader: Mutex::new(UdpReader {
                batch: RecvBatch::new(),
                parser: FrameParser::new(),
                poll_first: false,
            }),
        }
    }

    /// Remember `from` as heard now; true when it is a new peer. The least
    /// recently heard peer makes room when the table is full.
    fn note_peer(&self, from: SocketAddr, now: Instant) -> bool {
        let mut peers = self.peers.lock();
        if let Some(t) = peers.get_mut(&from) {
            *t = now;
            return false;
        }
        if peers.len() >= MAX_UDP_PEERS
            && let Some(oldest) = peers.iter().min_by_key(|(_, t)| **t).map(|(a, _)| *a)
        {
            peers.remove(&oldest);
        }
        peers.insert(from, now);
        true
    }
}

impl SharedInput for UdpShared {
    fn read_once(&self, core: &LinkCore, until: Instant) -> usize {
        let mut reader = self.reader.lock();
        let UdpReader {
            batch,
            parser,
            poll_first,
        } = &mut *reader;
        // Whichever costs fewer system calls for the traffic at hand: a
        // stream (bursts, full windows) usually has a datagram waiting, one
        // reply at a time usually has not (then recv, poll, recv would be
        // three). Each call takes every datagram waiting, up to
        // [`RECV_BATCH`].
        let mut polled = false;
        // Whether a datagram was waiting already (no wait needed for it).
        let mut waiting = true;
        if until + Duration::from_millis(1) >= Instant::now() + POLL {
            // A wait of the socket's read timeout or longer (the background
            // reader's): one blocking call for the first datagram.
            return match recv_batch(&self.socket, batch, libc::MSG_WAITFORONE) {
                Ok(()) => {
                    self.handle_batch(core, parser, batch);
                    batch.count
                }
                Err(_) => {
                    *poll_first = true;
                    0
                }
            };
        }
        if *poll_first {
            let now = Instant::now();
            if now < until {
                wait_readable(&self.socket, until - now);
                waiting = now.elapsed() < Duration::from_micros(50);
            }
            polled = true;
        }
        // A few errors in a row (ICMP port unreachable reported on the
        // socket) are consumed; then give the caller its turn.
        for _ in 0..8 {
            match recv_batch(&self.socket, batch, libc::MSG_DONTWAIT) {
                Ok(()) => {
                    *poll_first = !waiting;
                    self.handle_batch(core, parser, batch);
                    return batch.count;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    waiting = false;
                    let now = Instant::now();
                    if polled || now >= until {
                        return 0;
                    }
                    wait_readable(&self.socket, until - now);
                    polled = true;
                }
                Err(_) => {}
            }
        }
        0
    }
}

impl UdpShared {
    /// Route the datagrams of one read, in arrival order, as one read
    /// (`LinkCore::reading`). Frames that handling them sends on this
    /// thread (a server's replies) leave together afterwards
    /// (`LinkCore::batch_sends`).
    fn handle_batch(&self, core: &LinkCore, parser: &mut FrameParser, batch: &RecvBatch) {
        // They were all waiting when the read returned: one clock reading.
        let now = Instant::now();
        core.batch_sends(|| {
            core.reading(|| {
                for (bytes, from) in batch.datagrams() {
                    self.handle(core, parser, bytes, from, now);
                }
            })
        });
    }

    /// Route one datagram, received at `now`.
    fn handle(
        &self,
        core: &LinkCore,
        parser: &mut FrameParser,
        bytes: &[u8],
        from: SocketAddr,
        now: Instant,
    ) {
        if self.learn_peers {
            // Each datagram on its own: no frame spliced from two senders,
            // and a peer only once it sent a valid frame.
            parser.reset();
            if core.ingest_at(parser, bytes, Route::udp(from), now) > 0 && self.note_peer(from, now)
            {
                core.peer_learned();
            }
        } else {
            core.ingest_at(parser, bytes, Route::LOCAL, now);
        }
    }
}

/// Most datagrams one read takes (`recvmmsg`).
pub(crate) const RECV_BATCH: usize = 32;
/// Room for each datagram of a read: the largest UDP payload over IPv4 and
/// IPv6 without jumbograms fits, so a datagram holding many frames is read
/// whole. The pages are touched only as far as datagrams fill them.
const DATAGRAM_ROOM: usize = 65_536;

/// The datagrams of one `recvmmsg`: their bytes and sources, and the
/// headers the call fills (set up once: each points at its own slot of
/// `bufs` and its own address buffer, heap allocations that never move).
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    addrs: Box<[libc::sockaddr_storage; RECV_BATCH]>,
    iovs: Box<[libc::iovec; RECV_BATCH]>,
    msgs: Box<[libc::mmsghdr; RECV_BATCH]>,
    lens: [usize; RECV_BATCH],
    froms: [Option<SocketAddr>; RECV_BATCH],
    count: usize,
}

// SAFETY: the raw pointers in `iovs` and `msgs` point only into this
// batch's own heap buffers and are used only through `&mut self`.
unsafe impl Send for RecvBatch {}

/// Slot `i` of the buffer: a stride a little over [`DATAGRAM_ROOM`] so
/// that the starts of the slots do not all fall in the same cache set.
const SLOT_STRIDE: usize = DATAGRAM_ROOM + 256;

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        // SAFETY (the three zeroed): all-zero is a valid value of these
        // plain C structs.
        let mut batch = RecvBatch {
            bufs: vec![0u8; RECV_BATCH * SLOT_STRIDE],
            addrs: Box::new(unsafe { std::mem::zeroed() }),
            iovs: Box::new(unsafe { std::mem::zeroed() }),
            msgs: Box::new(unsafe { std::mem::zeroed() }),
            lens: [0; RECV_BATCH],
            froms: [None; RECV_BATCH],
            count: 0,
        };
        let base = batch.bufs.as_mut_ptr();
        for i in 0..RECV_BATCH {
            // SAFETY: slot i (DATAGRAM_ROOM bytes from i * SLOT_STRIDE) lies inside bufs.
            batch.iovs[i].iov_base = unsafe { base.add(i * SLOT_STRIDE) }.cast();
            batch.iovs[i].iov_len = DATAGRAM_ROOM;
            let hdr = &mut batch.msgs[i].msg_hdr;
            hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_iov = &mut batch.iovs[i];
            hdr.msg_iovlen = 1;
        }
        batch
    }

    /// The datagrams read, in arrival order, with their sources (one whose
    /// source is not an IP address is skipped).
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        (0..self.count).filter_map(move |i| {
            let from = self.froms[i]?;
            let start = i * SLOT_STRIDE;
            Some((&self.bufs[start..start + self.lens[i]], from))
        })
    }
}

/// Read every datagram waiting (at least one, at most [`RECV_BATCH`]) into
/// `batch` with one `recvmmsg`. `flags`: `MSG_DONTWAIT` (nothing waiting →
/// `WouldBlock`) or `MSG_WAITFORONE` (wait up to the socket's read timeout
/// for the first, then take what is waiting). A datagram larger than
/// [`DATAGRAM_ROOM`] keeps its first bytes (the kernel truncates it).
pub(crate) fn recv_batch(
    socket: &UdpSocket,
    batch: &mut RecvBatch,
    flags: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    batch.count = 0;
    for m in batch.msgs.iter_mut() {
        // The call overwrites it with each source's length.
        m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    }
    // SAFETY: valid fd; RECV_BATCH headers set up in RecvBatch::new, each
    // pointing at its own address buffer and one iovec of DATAGRAM_ROOM
    // writable bytes of `bufs`, all owned by `batch`; no timeout.
    let n = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            batch.msgs.as_mut_ptr(),
            RECV_BATCH as libc::c_uint,
            flags,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let n = (n as usize).min(RECV_BATCH);
    for i in 0..n {
        batch.lens[i] = (batch.msgs[i].msg_len as usize).min(DATAGRAM_ROOM);
        batch.froms[i] = socket_addr(&batch.addrs[i]);
    }
    batch.count = n;
    Ok(())
}

/// The std address of an IPv4 or IPv6 socket address.
fn socket_addr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in, which fits.
            let a: &libc::sockaddr_in = unsafe { &*(addr as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6, which fits.
            let a: &libc::sockaddr_in6 =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Wait until the socket is readable or `span` has passed.
fn wait_readable(socket: &UdpSocket, span: Duration) {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: span.as_secs() as libc::time_t,
        tv_nsec: span.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    unsafe {
        libc::ppoll(&mut fds, 1, &ts, std::ptr::null());
    }
}

struct UdpTransport(Arc<UdpShared>);

impl Transport for UdpTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        // Sent outside the table's lock: the reader notes peers meanwhile.
        let peers: Vec<SocketAddr> = self.0.peers.lock().keys().copied().collect();
        // A failed datagram is a lost frame, as on any UDP link.
        for peer in peers {
            let _ = self.0.socket.send_to(frame, peer);
        }
        Ok(())
    }

    fn write_frame_to(&self, route: Route, frame: &[u8]) -> FtpOutcome<()> {
        match route.udp_addr() {
            Some(addr) => {
                let _ = self.0.socket.send_to(frame, addr);
                Ok(())
            }
            // udpout: its one route is the target.
            None => self.write_frame(frame),
        }
    }

    fn has_peer(&self) -> bool {
        !self.0.peers.lock().is_empty()
    }

    fn shared_input(&self) -> Option<&dyn SharedInput> {
        Some(&*self.0)
    }

    fn sends_datagrams(&self) -> bool {
        true
    }

    fn write_batch(&self, batch: &SendBatch) {
        // Sent outside the table's lock, as in write_frame.
        let peers: Vec<SocketAddr> =
            if batch.frames().any(|(d, _)| d == Dest::All) || !self.0.learn_peers {
                self.0.peers.lock().keys().copied().collect()
            } else {
                Vec::new()
            };
        let mut out = Vec::with_capacity(batch.len());
        for (dest, frame) in batch.frames() {
            match dest.route_addr() {
                Some(addr) => out.push((addr, frame)),
                // udpout's one route, or every peer.
                None => out.extend(peers.iter().map(|&addr| (addr, frame))),
            }
        }
        // A failed datagram is a lost frame, as on any UDP link.
        send_batch(&self.0.socket, &out);
    }
}

impl Dest {
    /// The UDP address of a route destination.
    fn route_addr(self) -> Option<SocketAddr> {
        match self {
            Dest::Route(route) => route.udp_addr(),
            Dest::All => None,
        }
    }
}

/// Send each `(address, datagram)` in order with as few `sendmmsg` calls as
/// the kernel allows; returns how many were sent. A datagram the kernel
/// refuses (an error reported for it) is skipped, as a lost one.
///
/// Consecutive datagrams of equal size to one address (a server's replies
/// and burst packets, a client's window of reads, all one frame length)
/// leave as one message that the kernel cuts into those datagrams
/// ([`segment_runs`], UDP segmentation offload, `UDP_SEGMENT`, Linux ≥
/// 4.18): the receiver gets the same datagrams, and the stack is walked
/// once per message instead of once per datagram (on loopback this cut the
/// CPU time of a transfer by about a third on both sides). A run the kernel refuses is
/// sent again one datagram at a time; when it refuses segmentation itself
/// (an older kernel, a device without checksum offload), this process
/// stops asking for it.
pub(crate) fn send_batch(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> usize {
    let runs = if SEGMENTATION_REFUSED.load(Ordering::Relaxed) {
        (0..datagrams.len()).map(|i| i..i + 1).collect()
    } else {
        segment_runs(datagrams)
    };
    send_runs(socket, datagrams, &runs)
}

/// Set once the kernel refused a segmented message as such.
static SEGMENTATION_REFUSED: AtomicBool = AtomicBool::new(false);
/// `UDP_SEGMENT` (linux/udp.h), at level `SOL_UDP`.
const UDP_SEGMENT: libc::c_int = 103;
/// Most datagrams in one segmented message (the kernel's UDP_MAX_SEGMENTS).
const MAX_SEGMENTS: usize = 64;
/// Room for a control message carrying one u16, aligned for its header.
type SegmentControl = [u64; 4];
const _: () =
    assert!(unsafe { libc::CMSG_SPACE(2) } as usize <= std::mem::size_of::<SegmentControl>());

/// The datagrams that may leave as one segmented message each: consecutive,
/// to one address, each as long as the first but the last, which may be
/// shorter (the kernel cuts at the first one's length); at most
/// [`MAX_SEGMENTS`]. Empty datagrams stay alone.
pub(crate) fn segment_runs(datagrams: &[(SocketAddr, &[u8])]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < datagrams.len() {
        let (addr, first) = datagrams[start];
        let mut end = start + 1;
        while !first.is_empty()
            && end < datagrams.len()
            && end - start < MAX_SEGMENTS
            && datagrams[end].0 == addr
            && datagrams[end - 1].1.len() == first.len()
            && (1..=first.len()).contains(&datagrams[end].1.len())
        {
            end += 1;
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

/// Send the messages `runs` (each a run of `datagrams`, segmented when it
/// holds more than one); returns how many datagrams were sent.
fn send_runs(
    socket: &UdpSocket,
    datagrams: &[(SocketAddr, &[u8])],
    runs: &[Range<usize>],
) -> usize {
    use std::os::fd::AsRawFd;
    let mut sent = 0;
    for chunk in runs.chunks(SEND_BATCH) {
        let mut addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)> = chunk
            .iter()
            .map(|run| raw_addr(&datagrams[run.start].0))
            .collect();
        let mut iovs: Vec<libc::iovec> = chunk
            .iter()
            .flat_map(|run| datagrams[run.clone()].iter())
            .map(|(_, bytes)| libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            })
            .collect();
        let mut controls: Vec<SegmentControl> = vec![[0; 4]; chunk.len()];
        let mut first_iov = 0;
        let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(chunk.len());
        for (i, run) in chunk.iter().enumerate() {
            // SAFETY: all-zero is a valid mmsghdr.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = (&mut addrs[i].0 as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = addrs[i].1;
            // SAFETY: the run's iovecs are within `iovs`.
            m.msg_hdr.msg_iov = unsafe { iovs.as_mut_ptr().add(first_iov) };
            m.msg_hdr.msg_iovlen = run.len() as _;
            first_iov += run.len();
            if run.len() > 1 {
                let segment = datagrams[run.start].1.len() as u16;
                m.msg_hdr.msg_control = controls[i].as_mut_ptr().cast();
                // SAFETY: a const computation.
                m.msg_hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
                // SAFETY: the control buffer is large and aligned enough for
                // one cmsghdr with a u16 (checked above); CMSG_FIRSTHDR of a
                // header with that buffer points at its start.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(&m.msg_hdr);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
                }
            }
            msgs.push(m);
        }
        let mut done = 0;
        let mut interrupted = 0;
        while done < msgs.len() {
            // SAFETY: valid fd; each header points at its own address,
            // control buffer and iovecs over live datagram slices, all
            // outliving the call.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs[done..].as_mut_ptr(),
                    (msgs.len() - done) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                sent += chunk[done..done + n as usize]
                    .iter()
                    .map(|r| r.len())
                    .sum::<usize>();
                done += n as usize;
                continue;
            }
            let error = std::io::Error::last_os_error();
            if n < 0 && error.kind() == ErrorKind::Interrupted && interrupted < 8 {
                interrupted += 1;
                continue;
            }
            let run = chunk[done].clone();
            if run.len() > 1 {
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
                ) {
                    SEGMENTATION_REFUSED.store(true, Ordering::Relaxed);
                }
                // One by one: only a datagram the kernel refuses is lost.
                let single: Vec<Range<usize>> = (0..run.len()).map(|i| i..i + 1).collect();
                sent += send_runs(socket, &datagrams[run], &single);
            }
            // Else this datagram failed: lost; go on with the next.
            done += 1;
        }
    }
    sent
}

/// The C socket address of `addr`, with its length.
fn raw_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is aligned for it.
            let sin: &mut libc::sockaddr_in =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 fits in sockaddr_storage, which is aligned for it.
            let sin6: &mut libc::sockaddr_in6 =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn bind_udp(addr: SocketAddr) -> FtpOutcome<UdpSocket> {
    let socket =
        UdpSocket::bind(addr).map_err(|e| FtpError::io(format!("cannot bind UDP {addr}"), &e))?;
    socket
        .set_read_timeout(Some(POLL))
        .map_err(|e| FtpError::io("cannot set UDP read timeout", &e))?;
    grow_receive_buffer(&socket);
    Ok(socket)
}

/// Ask for a larger receive buffer so that bursts (hundreds of frames sent
/// back to back) are not dropped by the kernel; the kernel may cap it.
pub(crate) fn grow_receive_buffer(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4 << 20;
    // SAFETY: valid fd and a pointer to a c_int of the given length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The link over a UDP socket: its background reader reads whenever no
/// client of the link reads for itself (see `link::replies`).
fn start_udp(shared: Arc<UdpShared>, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let core = LinkCore::new(
        system,
        component,
        None,
        Box::new(UdpTransport(Arc::clone(&shared))),
    );
    core.set_local_addr(shared.socket.local_addr().ok());
    spawn(&core, "mavftp-udp-rx", move |core| {
        core.run_background_reader(&*shared)
    })?;
    finish(core)
}

fn open_udp_in(host: &str, port: u16, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let addr = resolve(host, port)?[0];
    let socket = bind_udp(addr)?;
    let shared = Arc::new(UdpShared::new(socket, true, FastMap::default()));
    start_udp(shared, system, component)
}

fn open_udp_out(host: &str, port: u16, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let target = resolve(host, port)?[0];
    let local: SocketAddr = if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = bind_udp(local)?;
    let mut peers = FastMap::default();
    peers.insert(target, Instant::now());
    let shared = Arc::new(UdpShared::new(socket, false, peers));
    start_udp(shared, system, component)
}

// ---------------------------------------------------------------- TCP

struct TcpClients {
    next_id: u64,
    streams: Vec<(u64, TcpStream)>,
}

struct TcpInTransport(Arc<Mutex<TcpClients>>);

impl Transport for TcpInTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        // A client that cannot take a frame is dropped; the others still get it.
        self.0
            .lock()
            .streams
            .retain_mut(|(_, stream)| stream.write_all(frame).is_ok());
        Ok(())
    }

    fn write_frame_to(&self, route: Route, frame: &[u8]) -> FtpOutcome<()> {
        let Some(id) = route.tcp_id() else {
            return self.write_frame(frame);
        };
        // A connection that is gone: the frame is lost with it.
        self.0
            .lock()
            .streams
            .retain_mut(|(c, stream)| *c != id || stream.write_all(frame).is_ok());
        Ok(())
    }

    fn has_peer(&self) -> bool {
        !self.0.lock().streams.is_empty()
    }

    fn shutdown(&self) {
        for (_, stream) in self.0.lock().streams.iter() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn configure_stream(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)
}

/// Read a TCP stream into the link until EOF, an error or the close.
fn read_stream(core: &LinkCore, mut stream: TcpStream, route: Route) {
    let mut buf = vec![0u8; 16_384];
    let mut parser = FrameParser::new();
    while !core.is_closed() {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                core.ingest(&mut parser, &buf[..n], route);
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

fn open_tcp_in(host: &str, port: u16, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let addr = resolve(host, port)?[0];
    let listener = TcpListener::bind(addr)
        .map_err(|e| FtpError::io(format!("cannot listen on TCP {addr}"), &e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| FtpError::io("cannot configure TCP listener", &e))?;
    let clients = Arc::new(Mutex::new(TcpClients {
        next_id: 0,
        streams: Vec::new(),
    }));
    let core = LinkCore::new(
        system,
        component,
        None,
        Box::new(TcpInTransport(Arc::clone(&clients))),
    );
    core.set_local_addr(listener.local_addr().ok());
    spawn(&core, "mavftp-tcp-accept", move |core| {
        while !core.is_closed() {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if is_timeout(&e) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if configure_stream(&stream).is_err() {
                continue;
            }
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            let id = {
                let mut clients = clients.lock();
                clients.next_id += 1;
                let id = clients.next_id;
                clients.streams.push((id, stream));
                id
            };
            core.peer_learned();
            let clients = Arc::clone(&clients);
            let spawned = spawn(&core, "mavftp-tcp-rx", move |core| {
                read_stream(&core, reader, Route::tcp(id));
                clients.lock().streams.retain(|(c, _)| *c != id);
            });
            if spawned.is_err() {
                continue;
            }
        }
    })?;
    finish(core)
}

/// tcpout: the current connection, replaced when the reader reconnects.
struct TcpOutTransport(Arc<Mutex<TcpStream>>);

impl Transport for TcpOutTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        let stream = self.0.lock();
        (&*stream)
            .write_all(frame)
            .map_err(|e| FtpError::io("TCP link write failed", &e))
    }

    fn shutdown(&self) {
        let _ = self.0.lock().shutdown(std::net::Shutdown::Both);
    }
}

/// Connect to the first address that accepts.
fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, String> {
    let mut last_error = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => match configure_stream(&stream) {
                Ok(()) => return Ok(stream),
                Err(e) => last_error = format!("{addr}: {e}"),
            },
            Err(e) => last_error = format!("{addr}: {e}"),
        }
    }
    Err(last_error)
}

/// After the server went away: wait, reconnect, and hand back a reader for
/// the new connection (None once the link closes).
fn reconnect(
    core: &LinkCore,
    addrs: &[SocketAddr],
    current: &Mutex<TcpStream>,
) -> Option<TcpStream> {
    loop {
        for _ in 0..5 {
            if core.is_closed() {
                return None;
            }
            std::thread::sleep(POLL);
        }
        if let Ok(stream) = connect_any(addrs, RECONNECT_TIMEOUT)
            && let Ok(reader) = stream.try_clone()
        {
            *current.lock() = stream;
            return Some(reader);
        }
    }
}

fn open_tcp_out(host: &str, port: u16, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let addrs = resolve(host, port)?;
    let stream = connect_any(&addrs, CONNECT_TIMEOUT).map_err(|e| {
        FtpError::new(
            FtpResult::NoSystem,
            format!("cannot connect to tcpout {host}:{port} ({e})"),
        )
    })?;
    let mut reader = stream
        .try_clone()
        .map_err(|e| FtpError::io("cannot clone TCP stream", &e))?;
    let local = stream.local_addr().ok();
    let current = Arc::new(Mutex::new(stream));
    let core = LinkCore::new(
        system,
        component,
        None,
        Box::new(TcpOutTransport(Arc::clone(&current))),
    );
    core.set_local_addr(local);
    spawn(&core, "mavftp-tcp-rx", move |core| {
        loop {
            read_stream(&core, reader, Route::LOCAL);
            match reconnect(&core, &addrs, &current) {
                Some(next) => reader = next,
                None => return,
            }
        }
    })?;
    finish(core)
}

// ---------------------------------------------------------------- serial

/// An open tty; closed when the last user (writer or reader) drops it.
struct SerialPort {
    fd: libc::c_int,
}

impl Drop for SerialPort {
    fn drop(&mut self) {
        // SAFETY: we own fd and nobody uses it any more (last Arc).
        unsafe {
            libc::close(self.fd);
        }
    }
}

impl SerialPort {
    fn open(path: &str, baud: u32) -> FtpOutcome<SerialPort> {
        let speed = baud_constant(baud).ok_or_else(|| {
            FtpError::invalid(format!("serial baud rate {baud} is not supported"))
        })?;
        let c_path = std::ffi::CString::new(path)
            .map_err(|_| FtpError::invalid(format!("serial path '{path}' contains a NUL")))?;
        let os_err =
            |what: &str| FtpError::io(format!("{what} {path}"), &std::io::Error::last_os_error());
        // O_NONBLOCK so that open does not wait for carrier; cleared below.
        // SAFETY: c_path is a valid NUL-terminated string.
        let fd = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(os_err("cannot open serial port"));
        }
        let port = SerialPort { fd };
        // SAFETY: termios is plain data; fd is open; every call gets valid pointers.
        unsafe {
            let mut tio: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut tio) != 0 {
                return Err(os_err("not a serial port:"));
            }
            libc::cfmakeraw(&mut tio);
            tio.c_cflag |= libc::CLOCAL | libc::CREAD;
            tio.c_cflag &= !libc::CRTSCTS;
            tio.c_cc[libc::VMIN] = 0;
            // Reads return after 100 ms without data (unit: 0.1 s).
            tio.c_cc[libc::VTIME] = 1;
            if libc::cfsetispeed(&mut tio, speed) != 0 || libc::cfsetospeed(&mut tio, speed) != 0 {
                return Err(os_err("cannot set baud rate on"));
            }
            if libc::tcsetattr(fd, libc::TCSANOW, &tio) != 0 {
                return Err(os_err("cannot configure serial port"));
            }
            libc::tcflush(fd, libc::TCIOFLUSH);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) != 0 {
                return Err(os_err("cannot configure serial port"));
            }
        }
        Ok(port)
    }

    fn write_all(&self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            // SAFETY: bytes is a valid slice; fd is open while self lives.
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if is_timeout(&e) {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                return Err(e);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }

    /// Read with the tty's 100 ms timeout; Ok(0) means nothing arrived.
    fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: buf is a valid mutable slice; fd is open while self lives.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

fn baud_constant(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        500_000 => libc::B500000,
        576_000 => libc::B576000,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        1_500_000 => libc::B1500000,
        2_000_000 => libc::B2000000,
        3_000_000 => libc::B3000000,
        4_000_000 => libc::B4000000,
        _ => return None,
    })
}

struct SerialTransport(Arc<SerialPort>);

impl Transport for SerialTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        self.0
            .write_all(frame)
            .map_err(|e| FtpError::io("serial link write failed", &e))
    }
}

fn open_serial(path: &str, baud: u32, system: u8, component: u8) -> FtpOutcome<Arc<LinkCore>> {
    let port = Arc::new(SerialPort::open(path, baud)?);
    let reader = Arc::clone(&port);
    let core = LinkCore::new(
        system,
        component,
        Some(baud / 10),
        Box::new(SerialTransport(port)),
    );
    spawn(&core, "mavftp-serial-rx", move |core| {
        let mut buf = vec![0u8; 4096];
        let mut parser = FrameParser::new();
        while !core.is_closed() {
            match reader.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    core.ingest(&mut parser, &buf[..n], Route::LOCAL);
                }
                Err(e) if is_timeout(&e) => {}
                // Unplugged or hung up: keep polling slowly until closed.
                Err(_) => std::thread::sleep(POLL),
            }
        }
    })?;
    finish(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").unwrap()
    }

    /// Wait until `socket` has something to read (at most 2 s).
    fn readable(socket: &UdpSocket) {
        wait_readable(socket, Duration::from_secs(2));
    }

    fn read_all(socket: &UdpSocket, batch: &mut RecvBatch) -> Vec<(Vec<u8>, SocketAddr)> {
        recv_batch(socket, batch, libc::MSG_DONTWAIT).unwrap();
        batch.datagrams().map(|(b, a)| (b.to_vec(), a)).collect()
    }

    #[test]
    fn one_read_takes_every_waiting_datagram_in_order_with_its_source() {
        let rx = bound();
        let (a, b) = (bound(), bound());
        let to = rx.local_addr().unwrap();
        // Two frames' worth in one datagram, and the largest UDP/IPv4 payload.
        let two_frames = vec![7u8; 2 * 280];
        let largest = vec![9u8; 65_507];
        a.send_to(b"first", to).unwrap();
        b.send_to(b"second", to).unwrap();
        a.send_to(&two_frames, to).unwrap();
        b.send_to(&largest, to).unwrap();
        a.send_to(b"", to).unwrap();
        readable(&rx);
        let mut batch = RecvBatch::new();
        let got = read_all(&rx, &mut batch);
        let (a, b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let want = vec![
            (b"first".to_vec(), a),
            (b"second".to_vec(), b),
            (two_frames, a),
            (largest, b),
            (Vec::new(), a),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_waiting_is_would_block_and_an_empty_batch() {
        let rx = bound();
        let mut batch = RecvBatch::new();
        // A batch that held datagrams before is emptied by the failed read.
        bound().send_to(b"x", rx.local_addr().unwrap()).unwrap();
        readable(&rx);
        assert_eq!(read_all(&rx, &mut batch).len(), 1);
        let e = recv_batch(&rx, &mut batch, libc::MSG_DONTWAIT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_eq!(batch.datagrams().count(), 0);
    }

    #[test]
    fn a_read_takes_at_most_recv_batch_datagrams_and_the_next_the_rest() {
        let rx = bound();
        let tx = bound();
        let to = rx.local_addr().unwrap();
        let n = RECV_BATCH + 8;
        for i in 0..n {
            tx.send_to(&(i as u32).to_le_bytes(), to).unwrap();
        }
        readable(&rx);
        let mut batch = RecvBatch::new();
        let mut seen = Vec::new();
        let first = read_all(&rx, &mut batch);
        assert_eq!(first.len(), RECV_BATCH);
        seen.extend(first);
        seen.extend(read_all(&rx, &mut batch));
        let values: Vec<u32> = seen
            .iter()
            .map(|(b, _)| u32::from_le_bytes(b[..4].try_into().unwrap()))
            .collect();
        assert_eq!(values, (0..n as u32).collect::<Vec<_>>());
    }

    #[test]
    fn a_blocking_read_waits_for_the_first_datagram_then_takes_what_waits() {
        let rx = bound();
        rx.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut batch = RecvBatch::new();
        let started = Instant::now();
        let e = recv_batch(&rx, &mut batch, libc::MSG_WAITFORONE).unwrap_err();
        assert!(is_timeout(&e), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(40));
        let tx = bound();
        for word in [b"a", b"b", b"c"] {
            tx.send_to(word, rx.local_addr().unwrap()).unwrap();
        }
        recv_batch(&rx, &mut batch, libc::MSG_WAITFORONE).unwrap();
        let got: Vec<&[u8]> = batch.datagrams().map(|(b, _)| b).collect();
        assert_eq!(got, vec![b"a" as &[u8], b"b", b"c"]);
    }

    #[test]
    fn send_batch_sends_each_datagram_in_order_to_its_address() {
        let (r1, r2) = (bound(), bound());
        let (to1, to2) = (r1.local_addr().unwrap(), r2.local_addr().unwrap());
        let tx = bound();
        let frames: Vec<(SocketAddr, &[u8])> = vec![
            (to1, b"1a"),
            (to2, b"2a"),
            (to1, b"1b"),
            (to2, b"2b"),
            (to1, b"1c"),
        ];
        assert_eq!(send_batch(&tx, &frames), 5);
        let mut batch = RecvBatch::new();
        readable(&r1);
        let got1: Vec<Vec<u8>> = read_all(&r1, &mut batch).into_iter().map(|d| d.0).collect();
        assert_eq!(got1, vec![b"1a".to_vec(), b"1b".to_vec(), b"1c".to_vec()]);
        readable(&r2);
        let got2 = read_all(&r2, &mut batch);
        let from = tx.local_addr().unwrap();
        assert_eq!(got2, vec![(b"2a".to_vec(), from), (b"2b".to_vec(), from)]);
    }

    #[test]
    fn datagrams_of_equal_size_to_one_address_make_one_segmented_run() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let (full, short, empty) = ([0u8; 10], [0u8; 4], [0u8; 0]);
        let runs = |d: &[(SocketAddr, &[u8])]| segment_runs(d);
        // A shorter datagram ends a run (the kernel cuts at the first's size).
        let d: Vec<(SocketAddr, &[u8])> = vec![
            (a, &full),
            (a, &full),
            (a, &short),
            (a, &full),
            (b, &full),
            (b, &full),
        ];
        assert_eq!(runs(&d), vec![0..3, 3..4, 4..6]);
        // A longer one, or an empty one, starts a new run.
        let d: Vec<(SocketAddr, &[u8])> = vec![(a, &short), (a, &full), (a, &empty), (a, &empty)];
        assert_eq!(runs(&d), vec![0..1, 1..2, 2..3, 3..4]);
        let d: Vec<(SocketAddr, &[u8])> = vec![(a, &full); MAX_SEGMENTS + 1];
        assert_eq!(
            runs(&d),
            vec![0..MAX_SEGMENTS, MAX_SEGMENTS..MAX_SEGMENTS + 1]
        );
    }

    /// Distinct datagrams of `len` bytes (the last `last` bytes long).
    fn numbered(count: usize, len: usize, last: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let n = if i + 1 == count { last } else { len };
                (0..n).map(|j| (i * 7 + j) as u8).collect()
            })
            .collect()
    }

    /// Read `count` datagrams from `rx`.
    fn receive(rx: &UdpSocket, count: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut got = Vec::new();
        let mut batch = RecvBatch::new();
        while got.len() < count {
            readable(rx);
            let more = read_all(rx, &mut batch);
            assert!(!more.is_empty(), "{} of {count} datagrams", got.len());
            got.extend(more);
        }
        got
    }

    #[test]
    fn equal_size_datagrams_sent_together_arrive_as_the_same_datagrams_in_order() {
        let (r1, r2) = (bound(), bound());
        let (to1, to2) = (r1.local_addr().unwrap(), r2.local_addr().unwrap());
        let tx = bound();
        let one = numbered(150, 267, 100);
        let two = numbered(3, 267, 267);
        let mut frames: Vec<(SocketAddr, &[u8])> = one.iter().map(|d| (to1, &d[..])).collect();
        // Another address between runs of the first.
        frames.insert(70, (to2, &two[0]));
        frames.insert(71, (to2, &two[1]));
        frames.push((to2, &two[2]));
        assert_eq!(send_batch(&tx, &frames), 153);
        let from = tx.local_addr().unwrap();
        let got1 = receive(&r1, one.len());
        assert_eq!(
            got1,
            one.iter().map(|d| (d.clone(), from)).collect::<Vec<_>>()
        );
        let got2 = receive(&r2, two.len());
        assert_eq!(
            got2,
            two.iter().map(|d| (d.clone(), from)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_segmented_run_the_kernel_refuses_whole_is_sent_one_by_one() {
        let rx = bound();
        let to = rx.local_addr().unwrap();
        let tx = bound();
        // 64 × 1100 bytes: too much for one message, each fits alone.
        let data = numbered(MAX_SEGMENTS, 1100, 1100);
        let frames: Vec<(SocketAddr, &[u8])> = data.iter().map(|d| (to, &d[..])).collect();
        assert_eq!(segment_runs(&frames), vec![0..MAX_SEGMENTS]);
        assert_eq!(send_batch(&tx, &frames), MAX_SEGMENTS);
        let got: Vec<Vec<u8>> = receive(&rx, data.len()).into_iter().map(|d| d.0).collect();
        assert_eq!(got, data);
    }

    #[test]
    fn send_batch_skips_a_datagram_the_kernel_refuses_and_sends_the_rest() {
        let rx = bound();
        let to = rx.local_addr().unwrap();
        let tx = bound();
        let too_big = vec![0u8; 70_000];
        // More than one sendmmsg's worth, with refused datagrams first,
        // inside and last.
        let mut frames: Vec<(SocketAddr, &[u8])> = vec![(to, &too_big)];
        let words: Vec<[u8; 4]> = (0..SEND_BATCH as u32 + 10).map(u32::to_le_bytes).collect();
        for (i, w) in words.iter().enumerate() {
            frames.push((to, w));
            if i == 20 {
                frames.push((to, &too_big));
            }
        }
        frames.push((to, &too_big));
        assert_eq!(send_batch(&tx, &frames), words.len());
        let mut got = Vec::new();
        let mut batch = RecvBatch::new();
        while got.len() < words.len() {
            readable(&rx);
            got.extend(read_all(&rx, &mut batch).into_iter().map(|d| d.0));
        }
        assert_eq!(got, words.iter().map(|w| w.to_vec()).collect::<Vec<_>>());
    }

    #[test]
    fn socket_addresses_convert_both_ways() {
        for addr in [
            "127.0.0.1:14550".parse::<SocketAddr>().unwrap(),
            "10.1.2.3:1".parse().unwrap(),
            SocketAddr::V6(std::net::SocketAddrV6::new(
                "fe80::1:2".parse().unwrap(),
                65_535,
                7,
                3,
            )),
        ] {
            let (raw, _) = raw_addr(&addr);
            assert_eq!(socket_addr(&raw), Some(addr));
        }
    }
}
