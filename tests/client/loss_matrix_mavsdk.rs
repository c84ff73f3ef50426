//! Loss matrix against MAVSDK 4.1.0's real FtpServer (the `mavsdk` wheel,
//! tests/interop/mavsdk_ftp_server.py) through the seeded UDP link simulator
//! [`UdpProxy`]: impairment profile (clean, loss 5/20 %, duplication,
//! reordering, corruption, two mixes, a link cut mid-transfer, and every
//! TerminateSession dropped) × burst / plain download / upload × sizes,
//! every case with its own proxy seed. Every transfer must end
//! byte-identical (the local file for downloads, the server's file for
//! uploads) or with TIMEOUT and nothing left locally (no temp file, no wrong
//! file), within a budget derived from the configured timeout × retries, and
//! never hang. The cut cases must end in TIMEOUT. MAVSDK's server writes
//! uploads through a buffered stream flushed only by TerminateSession (or
//! Reset, or the next Open), so an upload may only report SUCCESS once the
//! close was acknowledged: the `noclose` cases check that deterministically.
//!
//! One test function per mode, each with one MAVSDK server process
//! (`udpin` on a free port) reused sequentially: each case gets a fresh
//! proxy (own seed, own ports), link and [`Client`], and its own file name.
//!
//! The proxies reach the server through one fixed [`Front`] socket: MAVSDK's
//! `udpin` sends *every* message to *every* address it heard from recently,
//! so talking to it directly from a new proxy port per case would leave
//! stale remotes whose port numbers the kernel hands out again (to a later
//! proxy, link or another test), which then get the server's traffic.
//!
//! `LOSS_MATRIX_ONLY="profile mode size"` (any word may be `*`) runs the
//! matching cases only. `-- --nocapture` shows the tables.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::content::pattern;
use crate::matrix::{Budget, IMPAIRMENTS, Mode, Verdict, check_local, differences};
use crate::mavsdk::{ChildGuard, free_udp_port, start_mavsdk_server};
use mavftp::link::Link;
use mavftp::link::sim::{Impairment, PipeStats, UdpProxy};
use mavftp::{Client, FtpError, FtpResult};

/// Client settings for every case.
const TIMEOUT: Duration = Duration::from_millis(80);
const RETRIES: u32 = 8;
/// Sizes: empty, one byte, one chunk, one chunk + 1, exactly one 150-packet
/// MAVSDK burst (bc=1 on the last packet, no EOF NAK), several bursts.
const SIZES: [usize; 6] = [0, 1, 239, 240, 150 * 239, 50_000];
/// Smallest size run by a `cut` profile (it needs progress before the end).
const CUT_MIN_SIZE: usize = 10_000;

/// The client settings every case runs with.
const BUDGET: Budget = Budget {
    timeout: TIMEOUT,
    retries: RETRIES,
};

struct Profile {
    name: &'static str,
    make: fn() -> Impairment,
    /// Drop the proxy (both directions dead) at the first progress report
    /// that is neither 0 nor complete: the transfer must end in TIMEOUT.
    cut: bool,
    /// The front drops every TerminateSession on its way to the server: an
    /// upload cannot be confirmed (MAVSDK's server writes through a buffered
    /// stream that only its close flushes), so it must not end in SUCCESS
    /// unless the file is complete anyway.
    no_close: bool,
}

/// Every shared impairment, then what only a real server's run adds.
const PROFILES: &[Profile] = &[
    Profile::common(0),
    Profile::common(1),
    Profile::common(2),
    Profile::common(3),
    Profile::common(4),
    Profile::common(5),
    Profile::common(6),
    Profile {
        name: "harsh",
        make: || {
            Impairment::none()
                .with_loss(0.20)
                .with_duplicate(0.10)
                .with_reorder(0.20, Duration::from_millis(3))
                .with_corrupt(0.05)
        },
        cut: false,
        no_close: false,
    },
    Profile {
        name: "cut",
        make: || Impairment::none().with_loss(0.05),
        cut: true,
        no_close: false,
    },
    Profile {
        name: "noclose",
        make: Impairment::none,
        cut: false,
        no_close: true,
    },
];

impl Profile {
    /// Shared impairment `i` of [`IMPAIRMENTS`], nothing else.
    const fn common(i: usize) -> Profile {
        Profile {
            name: IMPAIRMENTS[i].name,
            make: IMPAIRMENTS[i].make,
            cut: false,
            no_close: false,
        }
    }

    /// Cut and no-close cases time out by design; they do not count against
    /// the share of timeouts allowed for the random impairments.
    fn expects_timeouts(&self) -> bool {
        self.cut || self.no_close
    }
}

struct Case {
    profile: usize,
    mode: Mode,
    size: usize,
    seed: u64,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} {} {} B seed {}",
            PROFILES[self.profile].name,
            self.mode.name(),
            self.size,
            self.seed
        )
    }
}

struct Row {
    verdict: Verdict,
    /// Bytes reported when the link was cut.
    cut_at: Option<u32>,
    secs: f64,
    up: PipeStats,
    down: PipeStats,
}

/// A fixed UDP front for the server: the server only ever hears the front's
/// own socket; the front relays to the current case's proxy (the last
/// sender since [`Front::next_case`]) and drops the server's traffic between
/// cases. Also used by tests/client/mavsdk3_server.rs.
pub(crate) struct Front {
    pub(crate) addr: SocketAddr,
    peer: Arc<Mutex<FrontPeer>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct FrontPeer {
    /// The current case's proxy.
    current: Option<SocketAddr>,
    /// The previous case's proxy, ignored until `retired_until` (datagrams
    /// it sent just before it was dropped may still be queued).
    retired: Option<SocketAddr>,
    retired_until: Option<Instant>,
    /// Drop TerminateSession requests (see [`Profile::no_close`]).
    drop_terminate: bool,
    /// TerminateSession requests dropped in this case.
    terminates_dropped: u32,
}

/// Whether a datagram is a MAVLink 2 FILE_TRANSFER_PROTOCOL frame carrying
/// TerminateSession (opcode 1): header 10 bytes, then target network,
/// system, component, then the FTP payload (seq u16, session, opcode).
fn is_terminate(frame: &[u8]) -> bool {
    frame.len() > 16
        && frame[0] == 0xFD
        && u32::from_le_bytes([frame[7], frame[8], frame[9], 0]) == 110
        && frame[16] == 1
}

impl Front {
    pub(crate) fn start(server: SocketAddr) -> Front {
        let poll = Some(Duration::from_millis(50));
        let cases = UdpSocket::bind("127.0.0.1:0").expect("bind front");
        cases.set_read_timeout(poll).expect("timeout");
        let upstream = UdpSocket::bind("127.0.0.1:0").expect("bind front");
        upstream.connect(server).expect("connect front");
        upstream.set_read_timeout(poll).expect("timeout");
        let addr = cases.local_addr().expect("front addr");
        let (cases, upstream) = (Arc::new(cases), Arc::new(upstream));
        let peer: Arc<Mutex<FrontPeer>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let up = {
            let (cases, upstream, peer, stop) = (
                Arc::clone(&cases),
                Arc::clone(&upstream),
                Arc::clone(&peer),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = cases.recv_from(&mut buf) else {
                        continue;
                    };
                    {
                        let mut p = peer.lock().expect("front");
                        let stale = p.retired == Some(from)
                            && p.retired_until.is_some_and(|t| Instant::now() < t);
                        if stale {
                            continue;
                        }
                        p.current = Some(from);
                        if p.drop_terminate && is_terminate(&buf[..n]) {
                            p.terminates_dropped += 1;
                            continue;
                        }
                    }
                    let _ = upstream.send(&buf[..n]);
                }
            })
        };
        let down = {
            let (peer, stop) = (Arc::clone(&peer), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = upstream.recv(&mut buf) else {
                        continue;
                    };
                    let to = peer.lock().expect("front").current;
                    if let Some(to) = to {
                        let _ = cases.send_to(&buf[..n], to);
                    }
                }
            })
        };
        Front {
            addr,
            peer,
            stop,
            threads: vec![up, down],
        }
    }

    /// Forget the previous case's proxy (call after dropping it) and
    /// return how many TerminateSession requests were dropped.
    pub(crate) fn next_case(&self) -> u32 {
        let mut p = self.peer.lock().expect("front");
        p.retire();
        std::mem::take(&mut p.terminates_dropped)
    }

    /// Drop TerminateSession requests from now on, or not.
    fn drop_terminate(&self, on: bool) {
        self.peer.lock().expect("front").drop_terminate = on;
    }
}

impl FrontPeer {
    fn retire(&mut self) {
        self.retired = self.current.take();
        self.retired_until = Some(Instant::now() + Duration::from_millis(200));
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One MAVSDK FtpServer listening (`udpin`) on a free port behind `front`,
/// serving `root`.
struct MavsdkServer {
    front: Front,
    guard: ChildGuard,
    root: tempfile::TempDir,
}

impl MavsdkServer {
    fn start() -> MavsdkServer {
        let root = tempfile::tempdir().expect("tempdir");
        let port = free_udp_port();
        let guard = start_mavsdk_server(root.path(), &format!("udpin://127.0.0.1:{port}"), &[]);
        let front = Front::start(SocketAddr::from(([127, 0, 0, 1], port)));
        MavsdkServer { front, guard, root }
    }

    /// Panics when the server process has exited (every later case would
    /// only time out).
    fn assert_alive(&mut self, after: &str) {
        if let Ok(Some(status)) = self.guard.child.try_wait() {
            panic!("MAVSDK FtpServer exited ({status}) after case {after}");
        }
    }
}

/// The proxy of a case, or what it counted before it was dropped.
enum Relay {
    Running(UdpProxy),
    Stopped(PipeStats, PipeStats, Option<u32>),
}

impl Relay {
    /// Drops the proxy (once) and returns its up/down counters and the
    /// progress at which it was cut (`cut_at`, None when stopped at the end).
    fn stop(&mut self, cut_at: Option<u32>) -> (PipeStats, PipeStats, Option<u32>) {
        if let Relay::Running(proxy) = self {
            let (up, down) = (proxy.up_stats(), proxy.down_stats());
            *self = Relay::Stopped(up, down, cut_at);
        }
        match self {
            Relay::Stopped(up, down, at) => (*up, *down, *at),
            Relay::Running(_) => unreachable!("stopped above"),
        }
    }
}

/// Runs one case against `server` through a fresh proxy, link and client.
fn run_case(server: &MavsdkServer, c: &Case) -> Row {
    let profile = &PROFILES[c.profile];
    let up = (profile.make)().with_seed(c.seed * 2 + 1);
    let down = (profile.make)().with_seed(c.seed * 2 + 2);
    server.front.drop_terminate(profile.no_close);
    let proxy = UdpProxy::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        server.front.addr,
        up,
        down,
    )
    .expect("start proxy");
    let link = Link::open(&format!("udpout://{}", proxy.listen_addr()), 0, 0).expect("link");
    let client = Client::new(&link, 1, 1).expect("client");
    client.set_timeout(TIMEOUT, RETRIES);
    let name = format!("{}{}.bin", &c.mode.name()[..1], c.seed);
    let data = pattern(c.size, c.seed as u32);
    let local = tempfile::tempdir().expect("tempdir");
    let source = tempfile::tempdir().expect("tempdir");
    if c.mode == Mode::Upload {
        std::fs::write(source.path().join(&name), &data).expect("write source");
    } else {
        std::fs::write(server.root.path().join(&name), &data).expect("write remote");
    }

    let marks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let m = Arc::clone(&marks);
    // The proxy, and its counters once it was dropped.
    let relay: Arc<Mutex<Relay>> = Arc::new(Mutex::new(Relay::Running(proxy)));
    let r = Arc::clone(&relay);
    let cut = profile.cut;
    let front = Arc::clone(&server.front.peer);
    let progress = Box::new(move |p: mavftp::Progress| {
        if let Ok(mut v) = m.lock() {
            v.push(Instant::now());
        }
        if cut && p.bytes_transferred > 0 && p.bytes_transferred < p.total_bytes {
            r.lock().expect("relay").stop(Some(p.bytes_transferred));
            front.lock().expect("front").retire();
        }
    });
    let (tx, rx) = mpsc::channel::<Result<(), FtpError>>();
    let done = Box::new(move |r: Result<(), FtpError>| {
        let _ = tx.send(r);
    });
    let start = Instant::now();
    let submitted = match c.mode {
        Mode::Burst | Mode::Plain => client.download_async(
            &format!("/{name}"),
            local.path(),
            c.mode == Mode::Burst,
            Some(progress),
            done,
        ),
        Mode::Upload => client.upload_async(&source.path().join(&name), "/", Some(progress), done),
    };
    submitted.expect("operation accepted");
    // A hang must fail the case, not the CI job: wait well past the budget.
    let watchdog = BUDGET.total(c.size) + Duration::from_secs(10);
    let (outcome, hung) = match rx.recv_timeout(watchdog) {
        Ok(r) => (r, false),
        Err(_) => {
            client.cancel();
            let r = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| Err(FtpError::new(FtpResult::Unknown, "no completion")));
            (r, true)
        }
    };
    let end = Instant::now();
    let elapsed = end - start;
    // No wait for the server's HEARTBEAT before starting (it comes at 1 Hz):
    // any frame from 1/1 counts as heard.
    let heard = link.has_heard(1, 1);
    drop(client);
    drop(link);
    let (up, down, cut_at) = relay.lock().expect("relay").stop(None);
    let closes_dropped = server.front.next_case();

    let mut problems: Vec<String> = Vec::new();
    if hung {
        problems.push(format!("HANG: no completion within {watchdog:?}"));
    }
    let marks = marks.lock().map(|v| v.clone()).unwrap_or_default();
    problems.extend(BUDGET.problems(start, &marks, end, c.size));
    let content = match (&outcome, c.mode) {
        (Ok(()), Mode::Upload) => match std::fs::read(server.root.path().join(&name)) {
            Ok(got) if got == data => Ok(()),
            Ok(got) => Err(format!("WRONG REMOTE FILE: {}", differences(&got, &data))),
            Err(e) => Err(format!("upload reported success, remote file: {e}")),
        },
        (Ok(()), _) => check_local(local.path(), &name, Some(&data)),
        // A partial remote file after a failed upload is acceptable.
        (Err(_), Mode::Upload) => Ok(()),
        (Err(_), _) => check_local(local.path(), &name, None),
    };
    if let Err(e) = content {
        problems.push(e);
    }
    if profile.no_close && closes_dropped == 0 && c.mode == Mode::Upload && outcome.is_ok() {
        problems.push("no TerminateSession seen".to_string());
    }
    if profile.cut {
        match (cut_at, &outcome) {
            (None, _) => problems.push("the link was never cut".to_string()),
            (Some(_), Ok(())) => problems.push("SUCCESS through a dead link".to_string()),
            (Some(_), Err(_)) => {}
        }
    }
    let verdict = match (&outcome, problems.is_empty()) {
        (_, false) => Verdict::Bad(format!("{outcome:?}: {}", problems.join("; "))),
        (Ok(()), true) => Verdict::Ok,
        (Err(e), true) if e.result == FtpResult::Timeout => Verdict::Timeout(e.message.clone()),
        // A timeout before a single frame of the server came through is
        // NO_SYSTEM by the client's contract; anything else is a failure.
        (Err(e), true) if e.result == FtpResult::NoSystem && !heard => {
            Verdict::Timeout(format!("NO_SYSTEM, nothing heard: {}", e.message))
        }
        (Err(e), true) => Verdict::Bad(format!("ended with {:?}: {}", e.result, e.message)),
    };
    Row {
        verdict,
        cut_at,
        secs: elapsed.as_secs_f64(),
        up,
        down,
    }
}

/// `lost/dup/reord/corrupt of offered` for one direction.
fn stats(s: &PipeStats) -> String {
    format!(
        "{}/{}/{}/{} of {}",
        s.lost, s.duplicated, s.reordered, s.corrupted, s.offered
    )
}

/// Runs every case of `mode` against one MAVSDK server, prints the table and
/// asserts the verdicts.
fn run_matrix(mode: Mode, seed_base: u64) {
    let mut cases = Vec::new();
    for (profile, p) in PROFILES.iter().enumerate() {
        for (i, &size) in SIZES.iter().enumerate() {
            if p.cut && size < CUT_MIN_SIZE {
                continue;
            }
            cases.push(Case {
                profile,
                mode,
                size,
                seed: seed_base + (profile * SIZES.len() + i) as u64,
            });
        }
    }
    let filtered = std::env::var("LOSS_MATRIX_ONLY").is_ok();
    if let Ok(only) = std::env::var("LOSS_MATRIX_ONLY") {
        let want: Vec<String> = only.split_whitespace().map(str::to_string).collect();
        cases.retain(|c| {
            let have = [
                PROFILES[c.profile].name.to_string(),
                c.mode.name().to_string(),
                c.size.to_string(),
            ];
            want.iter().zip(&have).all(|(w, h)| w == "*" || w == h)
        });
    }
    if cases.is_empty() {
        return;
    }
    let t0 = Instant::now();
    let mut server = MavsdkServer::start();
    let mut rows = Vec::new();
    for c in &cases {
        let row = run_case(&server, c);
        server.assert_alive(&c.label());
        rows.push(row);
    }
    let wall = t0.elapsed();

    let mut table = format!(
        "\nloss matrix vs MAVSDK 4.1 FtpServer, {}: {} cases, timeout {TIMEOUT:?} × {RETRIES} \
         retries, {:.1} s wall\n{:<9} {:>6} {:>6} {:<10} {:>6}  {:<26} {:<26}\n",
        mode.name(),
        cases.len(),
        wall.as_secs_f64(),
        "profile",
        "size",
        "seed",
        "result",
        "secs",
        "up lost/dup/reord/corr",
        "down lost/dup/reord/corr"
    );
    let mut bad = Vec::new();
    let mut timeouts = 0;
    for (c, r) in cases.iter().zip(&rows) {
        let result = match (&r.verdict, r.cut_at) {
            (Verdict::Ok, _) => "ok".to_string(),
            (Verdict::Timeout(_), None) => "TIMEOUT".to_string(),
            (Verdict::Timeout(_), Some(at)) => format!("TO@{at}"),
            (Verdict::Bad(_), _) => "BAD".to_string(),
        };
        table += &format!(
            "{:<9} {:>6} {:>6} {:<10} {:>6.2}  {:<26} {:<26}\n",
            PROFILES[c.profile].name,
            c.size,
            c.seed,
            result,
            r.secs,
            stats(&r.up),
            stats(&r.down)
        );
        match &r.verdict {
            Verdict::Bad(why) => bad.push(format!("{}: {why}", c.label())),
            Verdict::Timeout(why) if PROFILES[c.profile].name == "clean" => {
                bad.push(format!("{}: TIMEOUT on a perfect link: {why}", c.label()))
            }
            Verdict::Timeout(why) => {
                if !PROFILES[c.profile].expects_timeouts() {
                    timeouts += 1;
                }
                table += &format!("  timeout {} after {:.2} s: {why}\n", c.label(), r.secs);
            }
            Verdict::Ok => {}
        }
    }
    for b in &bad {
        table += &format!("  FAIL {b}\n");
    }
    // One print so parallel tests' tables do not interleave.
    println!("{table}");
    assert!(
        bad.is_empty(),
        "{} of {} {} cases failed:\n{}",
        bad.len(),
        rows.len(),
        mode.name(),
        bad.join("\n")
    );
    // Too many timeouts would prove little (not checked for a filtered run).
    let random = cases
        .iter()
        .filter(|c| !PROFILES[c.profile].expects_timeouts())
        .count();
    assert!(
        filtered || timeouts * 10 <= random,
        "{timeouts} of {random} {} cases timed out: the matrix proves little",
        mode.name()
    );
}

#[test]
fn mavsdk_loss_matrix_burst_download() {
    run_matrix(Mode::Burst, 5000);
}

#[test]
fn mavsdk_loss_matrix_plain_download() {
    run_matrix(Mode::Plain, 6000);
}

#[test]
fn mavsdk_loss_matrix_upload() {
    run_matrix(Mode::Upload, 7000);
}
