//! A scripted fake MAVLink FTP server for the client tests: an in-memory file
//! set served on one or more [`Link`]s at once (the same state, as one
//! autopilot seen by several ground stations) with the wire quirks of PX4,
//! ArduPilot, the MAVSDK 4.1 server or the thread-based MAVSDK 2.x–3.x
//! server (docs/PROTOCOL_NOTES.md §4–§7, §9, §10), plus counters of what it received so that tests can assert on the
//! client's wire behaviour. A reply goes back on the link its request came from.
//!
//! The modelled quirks are in one file per [`Personality`], each file's
//! doc the spec of that server: `px4.rs`, `ardupilot.rs`, `mavsdk41.rs`
//! (MAVSDK 4.1 and, with a flag, MAVSDK 2.x–3.x).
//! They implement [`Rules`], the questions on which the servers differ; this
//! file is what they share: the file set, the threads, the opcodes'
//! common handling, bursts, the counters and the knobs.
//!
//! Misbehaviour on demand (for the client's integrity tests): ReadFile ACKs
//! or burst packets whose offset is not the one asked for
//! ([`FakeServer::set_read_offset_glitch`], [`FakeServer::set_burst_offset_glitch`]),
//! files that never end ([`FakeServer::put_endless`]), listings that never
//! end or carry raw entries ([`FakeServer::put_listing`]); and for the
//! verified transfers, data corrupted behind an intact MAVLink CRC
//! ([`FakeServer::set_burst_corruption`], [`FakeServer::set_write_corruption`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mavftp::link::{IncomingFtp, Link, WeakLink};
use mavftp::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, mavlink_crc32};

/// How long a test waits for sessions to close after the last result.
pub const SETTLE: Duration = Duration::from_secs(5);

/// Which server's quirks to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    Px4,
    ArduPilot,
    Mavsdk41,
    /// MAVSDK 2.x–3.x: bursts from a thread, reading at a file position
    /// that ReadFile moves too (see `mavsdk41.rs`).
    Mavsdk3,
}

impl Personality {
    /// The server's rules.
    fn rules(self) -> &'static dyn Rules {
        match self {
            Personality::Px4 => &px4::Px4,
            Personality::ArduPilot => &ardupilot::ArduPilot,
            Personality::Mavsdk41 => &mavsdk41::MAVSDK41,
            Personality::Mavsdk3 => &mavsdk41::MAVSDK3,
        }
    }

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Personality::Px4 => "px4",
            Personality::ArduPilot => "ardupilot",
            Personality::Mavsdk41 => "mavsdk41",
            Personality::Mavsdk3 => "mavsdk3",
        }
    }
}

mod ardupilot;
mod mavsdk41;
mod px4;

pub use ardupilot::{AP_BURST_PACKETS, AP_PARAM_FAKE_SIZE, AP_QUEUE};
pub use mavsdk41::MAVSDK_BURST_PACKETS;
pub use px4::{PX4_BURST_BYTES, PX4_IDLE_TIMEOUT};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub at: Instant,
    pub seq: u16,
    pub opcode: u8,
    pub offset: u32,
}

/// One burst the server streamed.
#[derive(Debug, Clone)]
pub struct BurstRecord {
    pub request_seq: u16,
    pub start_offset: u32,
    /// Seq of the last packet sent in this burst (data or EOF NAK).
    pub last_seq: u16,
    pub packets: u32,
    pub eof_nak: bool,
    pub ended: bool,
    pub ended_at: Option<Instant>,
}

/// Counters of what the server saw and did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests received (dropped ones included), by opcode.
    pub requests_by_opcode: BTreeMap<u8, u64>,
    /// Most requests waiting or in service at once, counting the arriving one
    /// (ArduPilot: its modelled queue; others: the receive backlog).
    pub max_in_flight: usize,
    /// Requests dropped by ArduPilot's full queue.
    pub requests_dropped: u64,
    /// WriteFile requests among them.
    pub writes_dropped: u64,
    /// Requests answered from the reply cache.
    pub cache_replays: u64,
    /// Cache replays that answered a different opcode than the cached reply
    /// was for (the client reused a seq the server had used: §5 pitfall).
    pub wrong_replays: u64,
    /// BurstReadFile requests with size 0 (MAVSDK 4.1 would loop forever).
    pub zero_size_bursts: u64,
    /// Burst data packets sent.
    pub burst_packets: u64,
    /// Replies of any kind sent (burst packets included).
    pub replies_sent: u64,
    /// Sessions closed by something other than their own Terminate (PX4
    /// Reset or idle close, ArduPilot force-close or Reset).
    pub sessions_lost: u64,
    /// ReadFile ACKs and burst packets sent with a wrong offset on purpose.
    pub glitches: u64,
    /// Burst packets sent and writes stored with a flipped byte on purpose.
    pub corrupted: u64,
    /// ReadFile requests answered while a burst was streaming.
    pub reads_during_burst: u64,
    /// Burst packets whose bytes came from another offset than the one they
    /// carry (MAVSDK 2.x–3.x after a ReadFile moved the shared position).
    pub shifted_burst_packets: u64,
}

impl Stats {
    /// Requests received with this opcode.
    pub fn count(&self, op: Opcode) -> u64 {
        self.requests_by_opcode
            .get(&op.to_u8())
            .copied()
            .unwrap_or(0)
    }
}

/// Where a request came from, and where its reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peer {
    link: usize,
    sys: u8,
    comp: u8,
}

#[derive(Debug, Clone)]
struct FsFile {
    data: Vec<u8>,
    /// Size reported by OpenFileRO instead of the real one (virtual files).
    fake_size: Option<u32>,
    /// Data never ends (generated on the fly; `data` is unused).
    endless: bool,
}

impl FsFile {
    fn new(data: Vec<u8>) -> FsFile {
        FsFile {
            data,
            fake_size: None,
            endless: false,
        }
    }

    /// Bytes `[off, off + n)` that exist, and the file length (u64::MAX if endless).
    fn slice(&self, off: usize, n: usize) -> (Vec<u8>, u64) {
        if self.endless {
            let data = (off..off + n).map(|i| endless_byte(i as u64)).collect();
            return (data, u64::MAX);
        }
        let len = self.data.len();
        let end = off.saturating_add(n).min(len);
        let data = if off < end {
            self.data[off..end].to_vec()
        } else {
            Vec::new()
        };
        (data, len as u64)
    }
}

/// Content of an endless file at `offset`.
pub fn endless_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(0x9E37_79B9) >> 7) as u8
}

/// How a directory is listed.
#[derive(Debug, Clone)]
enum ListingMode {
    /// These entries (without their NUL), whatever the directory holds.
    Raw(Vec<Vec<u8>>),
    /// New file entries at every offset, never EOF.
    Endless,
}

#[derive(Debug, Clone)]
struct Session {
    path: String,
    writable: bool,
    /// First read size used on a virtual file (ArduPilot requires it constant).
    read_size: Option<usize>,
}

#[derive(Debug, Clone)]
struct Burst {
    peer: Peer,
    session: u8,
    next_seq: u16,
    offset: u32,
    chunk: usize,
    packets: u32,
    bytes: usize,
    record: usize,
    next_due: Instant,
    /// Offset of the last data packet sent (ArduPilot's EOF NAK carries it).
    last_offset: u32,
}

struct State {
    files: BTreeMap<String, FsFile>,
    dirs: BTreeSet<String>,
    listings: BTreeMap<String, ListingMode>,
    sessions: BTreeMap<u8, Session>,
    ap: ardupilot::ApSession,
    /// PX4: when the last request arrived (its idle timer).
    px4_last_request: Option<Instant>,
    cache: Option<((u8, u8), FtpPacket)>,
    burst: Option<Burst>,
    /// Where the open file's stream stands, for a server whose ReadFile and
    /// burst read at one shared position ([`Rules::shared_read_position`]).
    read_position: u64,
    stats: Stats,
    log: Vec<RequestRecord>,
    bursts: Vec<BurstRecord>,
    eof_garbage: bool,
    read_acks: u64,
    burst_data: u64,
    writes: u64,
}

struct Knobs {
    burst_gap: Duration,
    service_time: Duration,
    px4_burst_bytes: usize,
    px4_idle: Duration,
    /// PX4's serial link rate, bytes per second (see
    /// [`FakeServer::set_px4_link_rate`]); 0: a link that never fills.
    px4_link_rate: u32,
    read_glitch_every: u64,
    burst_glitch_every: u64,
    /// Corrupt every n-th burst data packet (0: never), this many times.
    burst_corrupt: (u64, u32),
    /// Store every n-th WriteFile corrupted (0: never), this many times.
    write_corrupt: (u64, u32),
    /// Burst data packets (numbered from 1 over all bursts) not delivered.
    burst_dropout: std::ops::Range<u64>,
    /// Requests (opcode, offset) lost on the way once each (see
    /// [`FakeServer::lose_once`]).
    lose_once: Vec<(Opcode, u32)>,
    /// Requests (opcode, offset) that find a foreign reply cached for
    /// their seq once each (see [`FakeServer::foreign_reply_cached_once`]).
    foreign_cached_once: Vec<(Opcode, u32)>,
    /// The next TerminateSession of a written file fails after this long
    /// (see [`FakeServer::fail_close_once`]).
    fail_close: Option<Duration>,
    /// The reply to the next request with this opcode is lost (see
    /// [`FakeServer::lose_reply_once`]).
    lose_reply: Option<Opcode>,
}

struct Inner {
    personality: Personality,
    rules: &'static dyn Rules,
    links: Mutex<Vec<WeakLink>>,
    state: Mutex<State>,
    knobs: Mutex<Knobs>,
    /// Requests of every link, in arrival order (PX4 / MAVSDK).
    inbox: Sender<(usize, IncomingFtp)>,
    /// ArduPilot's request queue and whether the worker is busy.
    queue: Mutex<(VecDeque<(usize, IncomingFtp)>, bool)>,
    queue_wake: Condvar,
    stop: AtomicBool,
}

/// The questions on which the servers differ; each personality's file
/// answers them (the defaults are the common answer).
trait Rules: Send + Sync {
    /// Requests wait in a queue of [`AP_QUEUE`] in front of one worker that
    /// blocks while it bursts (ArduPilot). Otherwise one thread handles the
    /// requests in arrival order and streams bursts between them.
    fn queued_worker(&self) -> bool {
        false
    }

    /// Burst packets sent at a time between requests, and the gap kept
    /// between packets.
    fn burst_pace(&self, knobs: &Knobs) -> (usize, Duration);

    /// Timers, run before each request and each burst packet.
    fn tick(&self, _st: &mut State, _knobs: &Knobs) {}

    /// A request arrived (after `tick`).
    fn on_request(&self, _st: &mut State) {}

    /// A reply from (to) `ids` is being sent: the reply cache and timers.
    fn on_reply(&self, _st: &mut State, _ids: (u8, u8), _p: &FtpPacket) {}

    /// Whether `req` from `from` is answered from the reply cache.
    fn replays(&self, _st: &State, _from: (u8, u8), _req: &FtpPacket) -> bool {
        false
    }

    /// Session rules applied before any opcode: the reply when they decide.
    fn gate(&self, _st: &mut State, _req: &FtpPacket) -> Option<FtpPacket> {
        None
    }

    /// The NAK `code` answering `req`.
    fn nak(&self, req: &FtpPacket, code: NakCode) -> FtpPacket {
        FtpPacket::nak_for(req, code, 0)
    }

    /// The session a Read/Burst/Write addresses, or the NAK code to send.
    fn session_for(&self, st: &State, req: &FtpPacket) -> Result<Session, NakCode>;

    /// A session for Open/Create (its id), or the NAK code to send.
    fn open_session(&self, st: &mut State, req: &FtpPacket, s: Session) -> Result<u8, NakCode>;

    /// Opcodes this server answers its own way: `Some(reply or none)`;
    /// `None` for the common handling.
    fn own_answer(
        &self,
        _st: &mut State,
        _req: &FtpPacket,
        _path: &str,
    ) -> Option<Option<FtpPacket>> {
        None
    }

    /// The NAK of a Create/OpenFileWO under a missing directory.
    fn create_without_parent(&self) -> NakCode {
        NakCode::FileNotFound
    }

    /// OpenFileWO of a missing file is refused with FileNotFound.
    fn open_wo_needs_the_file(&self) -> bool {
        false
    }

    /// OpenFileWO empties the file.
    fn open_wo_truncates(&self) -> bool {
        false
    }

    /// The data of a Create (`create`) or OpenFileWO ACK.
    fn create_ack(&self, _create: bool, _old_size: u32) -> Vec<u8> {
        Vec::new()
    }

    /// The ACK of a WriteFile.
    fn write_ack(&self, req: &FtpPacket) -> FtpPacket {
        FtpPacket::ack_for(req, Vec::new())
    }

    /// The answer to an rmdir of a directory that is not empty.
    fn rmdir_not_empty(&self, req: &FtpPacket) -> FtpPacket;

    /// An empty directory listed at offset 0 gets an empty ACK, not NAK EOF.
    fn empty_dir_acks(&self) -> bool {
        false
    }

    /// Read size rules of a read or burst of `size` bytes on session `s`.
    fn check_read_size(
        &self,
        _st: &mut State,
        _req: &FtpPacket,
        _s: &Session,
        _size: usize,
    ) -> Result<(), FtpPacket> {
        Ok(())
    }

    /// A ReadFile that runs past the end gets NAK Fail.
    fn read_past_end_fails(&self) -> bool {
        false
    }

    /// The chunk size of a burst (None: the request is not answered).
    fn burst_chunk(&self, st: &mut State, req: &FtpPacket) -> Option<usize>;

    /// The offset of the NAK EOF answering a burst at or past the end.
    fn burst_past_end_offset(&self, _len: u64) -> u32 {
        0
    }

    /// Delay of a burst's first packet.
    fn burst_start(&self) -> Duration {
        Duration::ZERO
    }

    /// The NAK EOF after a burst's last data packet (its offset, its bc).
    fn burst_eof(&self, _st: &mut State, _b: &Burst, len: u64, nak: &mut FtpPacket) {
        nak.offset = len as u32;
    }

    /// The bc flag of a data packet (`short`: less than the chunk; `last`:
    /// it ends the file).
    fn burst_bc(&self, b: &Burst, short: bool, last: bool, knobs: &Knobs) -> bool;

    /// The burst goes on after a packet with this bc.
    fn burst_goes_on(&self, bc: bool, _short: bool) -> bool {
        !bc
    }

    /// ReadFile and the burst read the open file at one shared position:
    /// a read moves it, and the burst's next packet reads from there while
    /// it carries the burst's own offset (MAVSDK 2.x–3.x).
    fn shared_read_position(&self) -> bool {
        false
    }
}

/// The fake server; stops when dropped.
pub struct FakeServer {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Normalize a wire path: leading `/` added (except for `@` virtual paths),
/// trailing `/` and a counted NUL removed.
pub fn norm(path: &str) -> String {
    let p = path.trim_end_matches('\0');
    if p.starts_with('@') {
        return p.to_string();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    }
}

fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeServer {
    /// Serve an empty file set (root directory only) on `link`, answering
    /// requests addressed to the link's own ids (or component 0).
    pub fn start(link: &Link, personality: Personality) -> FakeServer {
        let mut dirs = BTreeSet::new();
        dirs.insert("/".to_string());
        let (inbox, inbox_rx) = crossbeam_channel::unbounded();
        let inner = Arc::new(Inner {
            personality,
            rules: personality.rules(),
            links: Mutex::new(Vec::new()),
            state: Mutex::new(State {
                files: BTreeMap::new(),
                dirs,
                listings: BTreeMap::new(),
                sessions: BTreeMap::new(),
                ap: ardupilot::ApSession::default(),
                px4_last_request: None,
                cache: None,
                burst: None,
                read_position: 0,
                stats: Stats::default(),
                log: Vec::new(),
                bursts: Vec::new(),
                eof_garbage: false,
                read_acks: 0,
                burst_data: 0,
                writes: 0,
            }),
            knobs: Mutex::new(Knobs {
                burst_gap: Duration::from_micros(2060),
                service_time: Duration::from_micros(300),
                px4_burst_bytes: PX4_BURST_BYTES,
                px4_idle: PX4_IDLE_TIMEOUT,
                px4_link_rate: 0,
                read_glitch_every: 0,
                burst_glitch_every: 0,
                burst_corrupt: (0, 0),
                write_corrupt: (0, 0),
                burst_dropout: 0..0,
                lose_once: Vec::new(),
                foreign_cached_once: Vec::new(),
                fail_close: None,
                lose_reply: None,
            }),
            inbox,
            queue: Mutex::new((VecDeque::new(), false)),
            queue_wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let a = Arc::clone(&inner);
        let worker = if inner.rules.queued_worker() {
            std::thread::Builder::new()
                .name("fake-ap-worker".into())
                .spawn(move || a.ap_worker())
        } else {
            std::thread::Builder::new()
                .name("fake-server".into())
                .spawn(move || a.run_sync(&inbox_rx))
        }
        .expect("spawn");
        let server = FakeServer {
            inner,
            threads: Mutex::new(vec![worker]),
        };
        server.serve_link(link);
        server
    }

    /// Also serve the same state on `link` (another ground station's link to
    /// the same autopilot). Returns the link's index in [`RequestRecord::link`].
    pub fn serve_link(&self, link: &Link) -> usize {
        let own = (link.own_system_id(), link.own_component_id());
        let sub = link.subscribe(move |m: &IncomingFtp| {
            !m.packet.opcode.is_reply()
                && m.target_system == own.0
                && (m.target_component == own.1 || m.target_component == 0)
        });
        let index = {
            let mut links = lock(&self.inner.links);
            links.push(link.downgrade());
            links.len() - 1
        };
        let inner = Arc::clone(&self.inner);
        let rx = sub.receiver.clone();
        let t = std::thread::Builder::new()
            .name("fake-rx".into())
            .spawn(move || {
                let _sub = sub;
                while !inner.stopped() {
                    match rx.recv_timeout(Duration::from_millis(20)) {
                        Ok(inc) => inner.arrive(index, inc),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("spawn");
        lock(&self.threads).push(t);
        index
    }

    /// The personality served.
    pub fn personality(&self) -> Personality {
        self.inner.personality
    }

    /// Add (or replace) a file; its parent directories are created.
    pub fn put_file(&self, path: &str, data: &[u8]) {
        self.put(path, FsFile::new(data.to_vec()));
    }

    /// Add a virtual file whose OpenFileRO size is `fake_size`.
    pub fn put_virtual(&self, path: &str, data: &[u8], fake_size: u32) {
        let mut f = FsFile::new(data.to_vec());
        f.fake_size = Some(fake_size);
        self.put(path, f);
    }

    /// Add a file whose reads never reach an end (content [`endless_byte`])
    /// while OpenFileRO announces `announced` bytes.
    pub fn put_endless(&self, path: &str, announced: u32) {
        let mut f = FsFile::new(Vec::new());
        f.fake_size = Some(announced);
        f.endless = true;
        self.put(path, f);
    }

    /// List `dir` with these raw entries (each without its NUL), whatever
    /// it holds; `None` makes its listing endless.
    pub fn put_listing(&self, dir: &str, entries: Option<Vec<Vec<u8>>>) {
        let dir = norm(dir);
        let mut st = lock(&self.inner.state);
        st.dirs.insert(dir.clone());
        let mode = match entries {
            Some(e) => ListingMode::Raw(e),
            None => ListingMode::Endless,
        };
        st.listings.insert(dir, mode);
    }

    fn put(&self, path: &str, f: FsFile) {
        let path = norm(path);
        let mut st = lock(&self.inner.state);
        if !path.starts_with('@') {
            let mut dir = parent_of(&path);
            while dir != "/" {
                st.dirs.insert(dir.clone());
                dir = parent_of(&dir);
            }
        }
        st.files.insert(path, f);
    }

    /// Create a directory (and its parents).
    pub fn mkdir(&self, path: &str) {
        let mut dir = norm(path);
        let mut st = lock(&self.inner.state);
        while dir != "/" {
            st.dirs.insert(dir.clone());
            dir = parent_of(&dir);
        }
    }

    /// Content of a file, if it exists.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.inner.state)
            .files
            .get(&norm(path))
            .map(|f| f.data.clone())
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.state).stats.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn log(&self) -> Vec<RequestRecord> {
        lock(&self.inner.state).log.clone()
    }

    /// Every burst streamed so far.
    pub fn bursts(&self) -> Vec<BurstRecord> {
        lock(&self.inner.state).bursts.clone()
    }

    /// Number of open sessions.
    pub fn open_sessions(&self) -> usize {
        lock(&self.inner.state).sessions.len()
    }

    /// Sessions still open once every session is closed or `within` (use
    /// [`SETTLE`]) has
    /// passed: a finished download closes its session just after its
    /// result is reported.
    pub fn open_sessions_settled(&self, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        loop {
            let n = self.open_sessions();
            if n == 0 || std::time::Instant::now() >= deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// ArduPilot worker time per request (default 300 µs).
    pub fn set_service_time(&self, t: Duration) {
        lock(&self.inner.knobs).service_time = t;
    }

    /// PX4 bytes per burst before bc=1 (default 35 000).
    pub fn set_px4_burst_bytes(&self, bytes: usize) {
        lock(&self.inner.knobs).px4_burst_bytes = bytes;
    }

    /// PX4 on a serial link of `rate` bytes per second (a 57600-baud radio:
    /// 5760): PX4 sends a burst packet only when its MAVLink TX buffer has
    /// room for it, so its bursts leave at the link's rate instead of piling
    /// up in the radio's queue (0, the default: as fast as it can, as on
    /// UDP).
    pub fn set_px4_link_rate(&self, rate: u32) {
        lock(&self.inner.knobs).px4_link_rate = rate;
    }

    /// PX4 idle time after which the session is closed (default 10 s).
    pub fn set_px4_idle_timeout(&self, idle: Duration) {
        lock(&self.inner.knobs).px4_idle = idle;
    }

    /// Answer every `every`-th ReadFile (0: never) with the offset and data
    /// of the chunk after the one asked for.
    pub fn set_read_offset_glitch(&self, every: u64) {
        lock(&self.inner.knobs).read_glitch_every = every;
    }

    /// The first `opcode` request at `offset` is lost on its way (logged,
    /// not answered, not acted on); a copy of it is served as usual.
    pub fn lose_once(&self, opcode: Opcode, offset: u32) {
        lock(&self.inner.knobs).lose_once.push((opcode, offset));
    }

    /// The next TerminateSession of a session open for writing fails: the
    /// file is left empty (a server that holds writes until the close lost
    /// them) and the answer, NAK Fail, leaves `after` later.
    pub fn fail_close_once(&self, after: Duration) {
        lock(&self.inner.knobs).fail_close = Some(after);
    }

    /// The next request with `opcode` is served, but its reply is lost,
    /// and another station's request takes the reply cache before a repeat
    /// comes (so a repeat is served afresh, not replayed).
    pub fn lose_reply_once(&self, opcode: Opcode) {
        lock(&self.inner.knobs).lose_reply = Some(opcode);
    }

    /// The first `opcode` request at `offset` finds the reply cache holding
    /// a reply with its seq + 1 that is not its answer: a burst round's EOF
    /// NAK, as after a round whose last packets went out just before it
    /// came (PX4 and ArduPilot cache their last reply, burst packets
    /// included). The personality's replay rules then apply: PX4 and
    /// ArduPilot answer it, and every repeat with that seq until another
    /// request is served, with that NAK.
    pub fn foreign_reply_cached_once(&self, opcode: Opcode, offset: u32) {
        lock(&self.inner.knobs)
            .foreign_cached_once
            .push((opcode, offset));
    }

    /// Send every `every`-th burst data packet (0: never) with the offset of
    /// the packet after it (its own data, so its seq and offset disagree).
    pub fn set_burst_offset_glitch(&self, every: u64) {
        lock(&self.inner.knobs).burst_glitch_every = every;
    }

    /// Flip a byte in the data of every `every`-th burst data packet (0:
    /// never), at most `times` times: a server (or a path to it) that
    /// corrupts data while the MAVLink CRC is intact. Nothing in the
    /// protocol tells the client; only CalcFileCRC32 does.
    pub fn set_burst_corruption(&self, every: u64, times: u32) {
        lock(&self.inner.knobs).burst_corrupt = (every, times);
    }

    /// Store the data of every `every`-th WriteFile (0: never) with a byte
    /// flipped, at most `times` times (acknowledged as usual).
    pub fn set_write_corruption(&self, every: u64, times: u32) {
        lock(&self.inner.knobs).write_corrupt = (every, times);
    }

    /// Gap between burst packets where a personality paces them (MAVSDK;
    /// default 2.06 ms): a server whose sends block at the link's rate.
    pub fn set_burst_gap(&self, gap: Duration) {
        lock(&self.inner.knobs).burst_gap = gap;
    }

    /// A radio dropout: burst data packets `from..from + count` of the
    /// download (counted over all its bursts, from 1) are sent into the
    /// void, the stream going on as if they had left.
    pub fn set_burst_dropout(&self, from: u64, count: u64) {
        lock(&self.inner.knobs).burst_dropout = from..from + count;
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.queue_wake.notify_all();
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
    }
}

impl Inner {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A request arrived on link `link`.
    fn arrive(&self, link: usize, inc: IncomingFtp) {
        if !self.rules.queued_worker() {
            let _ = self.inbox.send((link, inc));
            return;
        }
        // ArduPilot: a queue of 5 in front of the worker; the rest is dropped.
        let mut q = lock(&self.queue);
        let in_flight = q.0.len() + usize::from(q.1) + 1;
        let full = q.0.len() >= AP_QUEUE;
        {
            let mut st = lock(&self.state);
            st.stats.max_in_flight = st.stats.max_in_flight.max(in_flight);
            if full {
                let p = &inc.packet;
                st.stats.requests_dropped += 1;
                if p.opcode == Opcode::WriteFile {
                    st.stats.writes_dropped += 1;
                }
                *st.stats
                    .requests_by_opcode
                    .entry(p.opcode.to_u8())
                    .or_default() += 1;
                st.log.push(record(&inc));
            }
        }
        if !full {
            q.0.push_back((link, inc));
            self.queue_wake.notify_all();
        }
    }

    /// PX4 / MAVSDK: one thread handles requests in order and streams the
    /// active burst between them.
    fn run_sync(&self, rx: &Receiver<(usize, IncomingFtp)>) {
        while !self.stopped() {
            let wait = {
                let st = lock(&self.state);
                match &st.burst {
                    None => Duration::from_millis(20),
                    Some(b) => b.next_due.saturating_duration_since(Instant::now()),
                }
            };
            let got = if wait.is_zero() {
                rx.try_recv().map_err(|e| {
                    if e.is_disconnected() {
                        RecvTimeoutError::Disconnected
                    } else {
                        RecvTimeoutError::Timeout
                    }
                })
            } else {
                rx.recv_timeout(wait)
            };
            match got {
                Ok((link, inc)) => {
                    let backlog = rx.len() + 1;
                    {
                        let mut st = lock(&self.state);
                        st.stats.max_in_flight = st.stats.max_in_flight.max(backlog);
                    }
                    self.handle(link, inc);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.pump_burst_slice();
        }
    }

    /// Send the burst packets that are due (how many at once and at what
    /// pace: [`Rules::burst_pace`]).
    fn pump_burst_slice(&self) {
        let (slice, gap) = self.rules.burst_pace(&lock(&self.knobs));
        for _ in 0..slice {
            {
                let mut st = lock(&self.state);
                self.tick(&mut st);
                let Some(b) = st.burst.as_mut() else { return };
                let now = Instant::now();
                if b.next_due > now {
                    return;
                }
                // Keep the average pace; do not catch up more than one gap.
                b.next_due = (b.next_due + gap).max(now.checked_sub(gap).unwrap_or(now));
            }
            if !self.burst_step() {
                return;
            }
        }
    }

    /// The personality's timers ([`Rules::tick`]).
    fn tick(&self, st: &mut State) {
        self.rules.tick(st, &lock(&self.knobs));
    }

    /// ArduPilot: the worker; it blocks while it streams a burst.
    fn ap_worker(&self) {
        loop {
            let (link, inc) = {
                let mut q = lock(&self.queue);
                loop {
                    if self.stopped() {
                        return;
                    }
                    if let Some(item) = q.0.pop_front() {
                        q.1 = true;
                        break item;
                    }
                    q.1 = false;
                    q = self
                        .queue_wake
                        .wait_timeout(q, Duration::from_millis(20))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            };
            let service = lock(&self.knobs).service_time;
            if !service.is_zero() {
                std::thread::sleep(service);
            }
            self.handle(link, inc);
            while !self.stopped() && self.burst_step() {}
            lock(&self.queue).1 = false;
        }
    }

    /// Send one reply, updating the reply cache and timers the way the
    /// personality does.
    fn send(&self, st: &mut State, peer: Peer, p: &FtpPacket) {
        self.rules.on_reply(st, (peer.sys, peer.comp), p);
        st.stats.replies_sent += 1;
        let link = lock(&self.links).get(peer.link).and_then(WeakLink::upgrade);
        if let Some(link) = link {
            let _ = link.send_ftp(peer.sys, peer.comp, p);
        }
    }

    /// Handle one request (cache replay, session rules, then the opcode).
    fn handle(&self, link: usize, inc: IncomingFtp) {
        let peer = Peer {
            link,
            sys: inc.source_system,
            comp: inc.source_component,
        };
        let mut st = lock(&self.state);
        let req = inc.packet.clone();
        *st.stats
            .requests_by_opcode
            .entry(req.opcode.to_u8())
            .or_default() += 1;
        {
            let mut knobs = lock(&self.knobs);
            let key = (req.opcode, req.offset);
            if let Some(i) = knobs.foreign_cached_once.iter().position(|k| *k == key) {
                knobs.foreign_cached_once.swap_remove(i);
                let mut round = FtpPacket::request(Opcode::BurstReadFile, req.seq);
                round.session = req.session;
                let eof = FtpPacket::nak_for(&round, NakCode::Eof, 0);
                st.cache = Some(((peer.sys, peer.comp), eof));
            }
        }
        let replay = self.rules.replays(&st, (peer.sys, peer.comp), &req);
        st.log.push(record(&inc));
        {
            let mut knobs = lock(&self.knobs);
            let key = (req.opcode, req.offset);
            if let Some(i) = knobs.lose_once.iter().position(|k| *k == key) {
                knobs.lose_once.swap_remove(i);
                return;
            }
        }
        self.tick(&mut st);
        self.rules.on_request(&mut st);
        if replay {
            if let Some((_, c)) = st.cache.clone() {
                st.stats.cache_replays += 1;
                if c.req_opcode != req.opcode {
                    st.stats.wrong_replays += 1;
                }
                self.send(&mut st, peer, &c);
            }
            return;
        }
        if req.opcode == Opcode::TerminateSession
            && let Some(s) = st.sessions.get(&req.session).cloned()
            && s.writable
            && let Some(after) = lock(&self.knobs).fail_close.take()
        {
            st.sessions.remove(&req.session);
            if let Some(f) = st.files.get_mut(&s.path) {
                f.data.clear();
            }
            drop(st);
            std::thread::sleep(after);
            let mut st = lock(&self.state);
            let nak = self.rules.nak(&req, NakCode::Fail);
            self.send(&mut st, peer, &nak);
            return;
        }
        let reply = match self.rules.gate(&mut st, &req) {
            Some(r) => Some(r),
            None => self.dispatch(&mut st, peer, &req),
        };
        let lost = {
            let mut knobs = lock(&self.knobs);
            let lost = knobs.lose_reply == Some(req.opcode);
            if lost {
                knobs.lose_reply = None;
            }
            lost
        };
        if let Some(reply) = reply
            && !lost
        {
            self.send(&mut st, peer, &reply);
        }
    }

    fn nak(&self, req: &FtpPacket, code: NakCode) -> Option<FtpPacket> {
        Some(self.rules.nak(req, code))
    }

    fn ack(req: &FtpPacket, data: Vec<u8>) -> Option<FtpPacket> {
        Some(FtpPacket::ack_for(req, data))
    }

    fn dispatch(&self, st: &mut State, peer: Peer, req: &FtpPacket) -> Option<FtpPacket> {
        let rules = self.rules;
        let path = norm(&String::from_utf8_lossy(&req.data));
        if let Some(answer) = rules.own_answer(st, req, &path) {
            return answer;
        }
        match req.opcode {
            Opcode::None | Opcode::TerminateSession => Self::ack(req, Vec::new()),
            Opcode::ResetSessions => {
                close_all(st, true);
                Self::ack(req, Vec::new())
            }
            Opcode::ListDirectory | Opcode::ListDirectoryWithTime => {
                let with_time = req.opcode == Opcode::ListDirectoryWithTime;
                self.list(st, req, &path, with_time)
            }
            Opcode::OpenFileRO => {
                let Some(f) = st.files.get(&path) else {
                    return self.nak(req, NakCode::FileNotFound);
                };
                let size = f.fake_size.unwrap_or(f.data.len() as u32);
                let s = Session {
                    path,
                    writable: false,
                    read_size: None,
                };
                match self.rules.open_session(st, req, s) {
                    Ok(id) => {
                        let mut a = FtpPacket::ack_for(req, size.to_le_bytes().to_vec());
                        a.session = id;
                        Some(a)
                    }
                    Err(code) => self.nak(req, code),
                }
            }
            Opcode::ReadFile => self.read(st, req),
            Opcode::BurstReadFile => self.start_burst(st, peer, req),
            Opcode::CreateFile | Opcode::OpenFileWO => {
                let create = req.opcode == Opcode::CreateFile;
                let parent = parent_of(&path);
                if path.starts_with('@') || !st.dirs.contains(&parent) {
                    return self.nak(req, rules.create_without_parent());
                }
                let exists = st.files.contains_key(&path);
                if !create && !exists && rules.open_wo_needs_the_file() {
                    return self.nak(req, NakCode::FileNotFound);
                }
                let s = Session {
                    path: path.clone(),
                    writable: true,
                    read_size: None,
                };
                let id = match self.rules.open_session(st, req, s) {
                    Ok(id) => id,
                    Err(code) => return self.nak(req, code),
                };
                let f = st
                    .files
                    .entry(path)
                    .or_insert_with(|| FsFile::new(Vec::new()));
                let old = f.data.len() as u32;
                if create || rules.open_wo_truncates() {
                    f.data.clear();
                }
                let mut a = FtpPacket::ack_for(req, rules.create_ack(create, old));
                a.session = id;
                Some(a)
            }
            Opcode::WriteFile => {
                let s = match self.rules.session_for(st, req) {
                    Ok(s) if s.writable => s,
                    Ok(_) => return self.nak(req, NakCode::Fail),
                    Err(code) => return self.nak(req, code),
                };
                let Some(f) = st.files.get_mut(&s.path) else {
                    return self.nak(req, NakCode::Fail);
                };
                let end = req.offset as usize + req.data.len();
                if f.data.len() < end {
                    f.data.resize(end, 0);
                }
                f.data[req.offset as usize..end].copy_from_slice(&req.data);
                st.writes += 1;
                let mut k = lock(&self.knobs);
                if k.write_corrupt.0 > 0
                    && k.write_corrupt.1 > 0
                    && st.writes.is_multiple_of(k.write_corrupt.0)
                    && !req.data.is_empty()
                {
                    k.write_corrupt.1 -= 1;
                    let at = req.offset as usize + req.data.len() / 2;
                    if let Some(f) = st.files.get_mut(&s.path) {
                        f.data[at] ^= 0xFF;
                    }
                    st.stats.corrupted += 1;
                }
                drop(k);
                Some(rules.write_ack(req))
            }
            Opcode::RemoveFile => {
                if st.files.remove(&path).is_some() {
                    Self::ack(req, Vec::new())
                } else {
                    self.nak(req, NakCode::FileNotFound)
                }
            }
            Opcode::CreateDirectory => {
                if st.dirs.contains(&path) || st.files.contains_key(&path) {
                    self.nak(req, NakCode::FileExists)
                } else if !st.dirs.contains(&parent_of(&path)) {
                    self.nak(req, NakCode::FileNotFound)
                } else {
                    st.dirs.insert(path);
                    Self::ack(req, Vec::new())
                }
            }
            Opcode::RemoveDirectory => {
                if !st.dirs.contains(&path) || path == "/" {
                    return self.nak(req, NakCode::FileNotFound);
                }
                let prefix = format!("{path}/");
                let busy = st.files.keys().any(|k| k.starts_with(&prefix))
                    || st.dirs.iter().any(|k| k.starts_with(&prefix));
                if busy {
                    return Some(rules.rmdir_not_empty(req));
                }
                st.dirs.remove(&path);
                Self::ack(req, Vec::new())
            }
            Opcode::Rename => {
                let text = String::from_utf8_lossy(&req.data).to_string();
                let mut parts = text.split('\0');
                let from = norm(parts.next().unwrap_or(""));
                let to = norm(parts.next().unwrap_or(""));
                match st.files.remove(&from) {
                    Some(f) => {
                        st.files.insert(to, f);
                        Self::ack(req, Vec::new())
                    }
                    None => self.nak(req, NakCode::FileNotFound),
                }
            }
            Opcode::CalcFileCRC32 => match st.files.get(&path) {
                Some(f) if !f.endless => {
                    Self::ack(req, mavlink_crc32(0, &f.data).to_le_bytes().to_vec())
                }
                Some(_) => self.nak(req, NakCode::Fail),
                None => self.nak(req, NakCode::FileNotFound),
            },
            // Handled by every personality's own rules.
            Opcode::TruncateFile | Opcode::Unknown(_) => None,
            Opcode::Ack | Opcode::Nak => None,
        }
    }

    fn list(
        &self,
        st: &mut State,
        req: &FtpPacket,
        path: &str,
        with_time: bool,
    ) -> Option<FtpPacket> {
        if !st.dirs.contains(path) {
            return if st.files.contains_key(path) {
                self.nak(req, NakCode::Fail)
            } else {
                self.nak(req, NakCode::FileNotFound)
            };
        }
        let start = req.offset as usize;
        let entries: Vec<Vec<u8>> = match st.listings.get(path) {
            Some(ListingMode::Raw(raw)) => raw.clone(),
            Some(ListingMode::Endless) => (start..start + 8)
                .map(|i| format!("Fendless_{i:09}\t{i}").into_bytes())
                .collect(),
            None => self.dir_entries(st, path, with_time),
        };
        let first = match st.listings.get(path) {
            Some(ListingMode::Endless) => 0,
            _ => start,
        };
        if first >= entries.len() {
            if self.rules.empty_dir_acks() && start == 0 {
                return Self::ack(req, Vec::new());
            }
            return self.nak(req, NakCode::Eof);
        }
        let mut data = Vec::new();
        for e in &entries[first..] {
            if data.len() + e.len() + 2 > MAX_DATA {
                break;
            }
            data.extend_from_slice(e);
            data.push(0);
        }
        if data.is_empty() {
            return self.nak(req, NakCode::Eof);
        }
        Self::ack(req, data)
    }

    /// The entries of a directory of the file set.
    fn dir_entries(&self, st: &State, path: &str, with_time: bool) -> Vec<Vec<u8>> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let direct = |k: &String| k.starts_with(&prefix) && !k[prefix.len()..].contains('/');
        let mut entries: Vec<Vec<u8>> = Vec::new();
        for d in st.dirs.iter().filter(|k| *k != "/" && direct(k)) {
            let name = &d[prefix.len()..];
            let e = if with_time {
                format!("D{name}\t0\t0")
            } else {
                format!("D{name}")
            };
            entries.push(e.into_bytes());
        }
        for (k, f) in st.files.iter().filter(|(k, _)| direct(k)) {
            let name = &k[prefix.len()..];
            let e = if with_time {
                format!("F{name}\t{}\t0", f.data.len())
            } else {
                format!("F{name}\t{}", f.data.len())
            };
            entries.push(e.into_bytes());
        }
        entries
    }

    fn read(&self, st: &mut State, req: &FtpPacket) -> Option<FtpPacket> {
        let s = match self.rules.session_for(st, req) {
            Ok(s) => s,
            Err(code) => return self.nak(req, code),
        };
        let want = req.data.len();
        if let Err(nak) = self.rules.check_read_size(st, req, &s, want) {
            return Some(nak);
        }
        let Some(f) = st.files.get(&s.path) else {
            return self.nak(req, NakCode::Fail);
        };
        let off = req.offset as usize;
        let (data, len) = f.slice(off, want);
        if off as u64 >= len {
            return self.nak(req, NakCode::Eof);
        }
        if self.rules.read_past_end_fails() && (off + want) as u64 > len {
            return self.nak(req, NakCode::Fail);
        }
        if st.burst.is_some() {
            st.stats.reads_during_burst += 1;
        }
        st.read_position = (off + data.len()) as u64;
        let every = lock(&self.knobs).read_glitch_every;
        st.read_acks += 1;
        if every > 0 && st.read_acks.is_multiple_of(every) {
            // The next chunk, labelled as such, for a request of this one.
            let n = data.len();
            let (next, _) = f.slice(off + n, n);
            if next.len() == n && n > 0 {
                st.stats.glitches += 1;
                let mut a = FtpPacket::ack_for(req, next);
                a.offset = (off + n) as u32;
                return Some(a);
            }
        }
        Self::ack(req, data)
    }

    fn start_burst(&self, st: &mut State, peer: Peer, req: &FtpPacket) -> Option<FtpPacket> {
        let s = match self.rules.session_for(st, req) {
            Ok(s) => s,
            Err(code) => return self.nak(req, code),
        };
        let chunk = self.rules.burst_chunk(st, req)?;
        if let Err(nak) = self.rules.check_read_size(st, req, &s, chunk) {
            return Some(nak);
        }
        let Some(f) = st.files.get(&s.path) else {
            return self.nak(req, NakCode::Fail);
        };
        let (_, len) = f.slice(0, 0);
        if u64::from(req.offset) >= len {
            let mut n = self.nak(req, NakCode::Eof)?;
            n.offset = self.rules.burst_past_end_offset(len);
            return Some(n);
        }
        st.bursts.push(BurstRecord {
            request_seq: req.seq,
            start_offset: req.offset,
            last_seq: req.seq,
            packets: 0,
            eof_nak: false,
            ended: false,
            ended_at: None,
        });
        let record = st.bursts.len() - 1;
        if let Some(old) = st.burst.take()
            && let Some(r) = st.bursts.get_mut(old.record)
        {
            r.ended = true;
            r.ended_at = Some(Instant::now());
        }
        let start = self.rules.burst_start();
        st.read_position = u64::from(req.offset);
        st.burst = Some(Burst {
            peer,
            session: req.session,
            next_seq: req.seq.wrapping_add(1),
            offset: req.offset,
            chunk,
            packets: 0,
            bytes: 0,
            record,
            next_due: Instant::now() + start,
            last_offset: req.offset,
        });
        None
    }

    /// Send the next packet of the active burst; false when none is left.
    fn burst_step(&self) -> bool {
        let rules = self.rules;
        let glitch_every = lock(&self.knobs).burst_glitch_every;
        let mut st = lock(&self.state);
        let Some(mut b) = st.burst.take() else {
            return false;
        };
        let Some(path) = st.sessions.get(&b.session).map(|s| s.path.clone()) else {
            return false;
        };
        let Some(f) = st.files.get(&path) else {
            return false;
        };
        let off = b.offset as usize;
        let (mut data, len) = f.slice(off, b.chunk);
        if rules.shared_read_position() && (off as u64) < len {
            // The bytes at the stream's position, as many as the burst's
            // offset leaves; fewer than that fails the stream's read.
            let at = st.read_position as usize;
            let (moved, _) = f.slice(at, data.len());
            if moved.len() < data.len() {
                let mut req = FtpPacket::request(Opcode::BurstReadFile, b.next_seq.wrapping_sub(1));
                req.session = b.session;
                let n = FtpPacket::nak_for(&req, NakCode::Fail, 0);
                self.send(&mut st, b.peer, &n);
                end_burst(&mut st, b.record, n.seq, false);
                return false;
            }
            if at != off {
                st.stats.shifted_burst_packets += 1;
            }
            st.read_position = (at + moved.len()) as u64;
            data = moved;
        }
        if off as u64 >= len {
            // PX4 / ArduPilot: NAK EOF after the last data packet.
            let mut req = FtpPacket::request(Opcode::BurstReadFile, b.next_seq.wrapping_sub(1));
            req.session = b.session;
            let mut n = FtpPacket::nak_for(&req, NakCode::Eof, 0);
            rules.burst_eof(&mut st, &b, len, &mut n);
            self.send(&mut st, b.peer, &n);
            end_burst(&mut st, b.record, n.seq, true);
            return false;
        }
        let n = data.len();
        let last = (off + n) as u64 == len;
        b.packets += 1;
        b.bytes += n;
        let short = n < b.chunk;
        let bc = rules.burst_bc(&b, short, last, &lock(&self.knobs));
        let mut p = FtpPacket {
            seq: b.next_seq,
            session: b.session,
            opcode: Opcode::Ack,
            req_opcode: Opcode::BurstReadFile,
            burst_complete: bc,
            offset: off as u32,
            data,
        };
        st.burst_data += 1;
        {
            let mut k = lock(&self.knobs);
            let (every, left) = k.burst_corrupt;
            if every > 0 && left > 0 && st.burst_data.is_multiple_of(every) && n > 0 {
                k.burst_corrupt.1 -= 1;
                p.data[n / 2] ^= 0xFF;
                st.stats.corrupted += 1;
            }
        }
        if glitch_every > 0 && st.burst_data.is_multiple_of(glitch_every) && !last && !bc {
            st.stats.glitches += 1;
            p.offset = (off + n) as u32;
        }
        st.stats.burst_packets += 1;
        if !lock(&self.knobs).burst_dropout.contains(&st.burst_data) {
            self.send(&mut st, b.peer, &p);
        }
        if let Some(r) = st.bursts.get_mut(b.record) {
            r.packets += 1;
            r.last_seq = p.seq;
        }
        b.last_offset = off as u32;
        b.offset += n as u32;
        b.next_seq = b.next_seq.wrapping_add(1);
        // PX4/AP follow the last full packet (bc=0) with NAK EOF.
        let more = rules.burst_goes_on(bc, short);
        if more {
            st.burst = Some(b);
        } else {
            end_burst(&mut st, b.record, p.seq, false);
        }
        more
    }
}

/// Close every session (and the burst); `lost` counts it as a session lost
/// to something other than its own Terminate.
fn close_all(st: &mut State, lost: bool) {
    if lost && !st.sessions.is_empty() {
        st.stats.sessions_lost += 1;
    }
    st.sessions.clear();
    st.ap.current = None;
    if let Some(b) = st.burst.take() {
        end_burst(st, b.record, b.next_seq.wrapping_sub(1), false);
    }
}

/// The log record of a request.
fn record(inc: &IncomingFtp) -> RequestRecord {
    let p = &inc.packet;
    RequestRecord {
        at: inc.received_at,
        seq: p.seq,
        opcode: p.opcode.to_u8(),
        offset: p.offset,
    }
}

/// Mark a burst record as ended.
fn end_burst(st: &mut State, record: usize, seq: u16, eof: bool) {
    if let Some(r) = st.bursts.get_mut(record) {
        r.ended = true;
        r.ended_at = Some(Instant::now());
        r.last_seq = seq;
        r.eof_nak |= eof;
    }
}

// ---------------------------------------------------------------------------
// Test plumbing shared by the client test binaries.

/// Deterministic test content.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ salt)
        .collect()
}

/// Names in `dir` (files and directories), sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// True when `dir` holds a leftover `.NAME.mavftp-part-*` temp file.
pub fn has_part_file(dir: &Path) -> bool {
    dir_names(dir).iter().any(|n| n.contains(".mavftp-part-"))
}
