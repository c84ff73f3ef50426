//! Transfer benchmark: goodput, % of the link and client CPU per MB for
//! download (burst and plain) and upload, for three clients (ours, MAVSDK
//! 4.1.0, pymavlink) against two servers (MAVSDK 4.1.0's FtpServer, ours),
//! over loopback and simulated radio links (issue 4).
//!
//! ```text
//! cargo run --release --example benchmark -- [--quick] [--repeat N]
//!     [--link loopback,5760,5760-loss,92160] [--client ours,mavsdk,pymavlink]
//!     [--server mavsdk,ours] [--op burst,plain,upload] [--seed N] [--help]
//! ```
//!
//! How each run is set up (one fresh set of processes per run):
//! - the server: MAVSDK's FtpServer (`tests/interop/mavsdk_ftp_server.py`,
//!   `udpin`), or ours ([`mavftp::Server`]) in a helper child process (this
//!   same executable with `--peer`), so that its CPU never counts as the
//!   client's;
//! - the link: loopback is direct UDP; the simulated links go through
//!   [`UdpProxy`] (in the helper child) with the same impairment in both
//!   directions: byte rate, a 1 s drop-tail queue, one-way delay, loss, seeded
//!   with `seed + 1000 × repeat` (so every client sees the same loss pattern
//!   in a given repeat). Our server is told the link rate
//!   (`set_unknown_link_rate`), as it would know a serial link's baud rate;
//! - the client: ours in this process ([`mavftp::Client`], public API only;
//!   CPU = getrusage(RUSAGE_SELF) around the transfer, which covers its worker
//!   and link threads and nothing else busy), or a Python driver
//!   (`mavsdk_ftp_client.py`, `pymavlink_ftp_client.py`, whose `elapsed_s`
//!   and `cpu_s` = process_time() cover the operation only, not start-up or
//!   discovery). pymavlink uses 239-byte burst and write chunks (its best).
//!
//! Every transfer is checked byte for byte; each is capped at
//! `cap-factor × ideal time + cap-add` (ideal = size at 89.8 % of the link).

#[path = "../tests/interop_support/mod.rs"]
mod interop_support;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mavftp::link::sim::{Impairment, PipeStats, QueueLimit, UdpProxy};
use mavftp::{Client, FtpOutcome, Link, Server};

use interop_support::{ChildGuard, DriverAnswer, free_udp_port, pattern, script};

/// Best possible goodput fraction for MAVLink 2: 239 data bytes per 266-byte frame.
const MAX_EFFICIENCY: f64 = 239.0 / 266.0;
/// Time allowed for discovery / first heartbeat before a transfer starts.
const DISCOVER_S: f64 = 15.0;
/// Name of the file served for downloads and of the one uploaded.
const DOWN_NAME: &str = "data.bin";
const UP_NAME: &str = "payload.bin";

// ------------------------------------------------------------------ setup

/// One link of the benchmark.
#[derive(Clone, Copy)]
struct LinkSpec {
    key: &'static str,
    label: &'static str,
    /// Bytes per second per direction; None = loopback (unlimited).
    rate: Option<u32>,
    delay_ms: u64,
    loss: f64,
    /// File size in bytes (before --quick / --size-scale).
    size: usize,
}

const LINKS: [LinkSpec; 4] = [
    LinkSpec {
        key: "loopback",
        label: "loopback",
        rate: None,
        delay_ms: 0,
        loss: 0.0,
        size: 1_000_000,
    },
    LinkSpec {
        key: "5760",
        label: "5760 B/s 10 ms 0 %",
        rate: Some(5760),
        delay_ms: 10,
        loss: 0.0,
        size: 100_000,
    },
    LinkSpec {
        key: "5760-loss",
        label: "5760 B/s 10 ms 5 %",
        rate: Some(5760),
        delay_ms: 10,
        loss: 0.05,
        size: 100_000,
    },
    LinkSpec {
        key: "92160",
        label: "92160 B/s 20 ms 2 %",
        rate: Some(92160),
        delay_ms: 20,
        loss: 0.02,
        size: 500_000,
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClientKind {
    Ours,
    Mavsdk,
    Pymavlink,
}

impl ClientKind {
    const ALL: [ClientKind; 3] = [ClientKind::Ours, ClientKind::Mavsdk, ClientKind::Pymavlink];
    fn key(self) -> &'static str {
        match self {
            ClientKind::Ours => "ours",
            ClientKind::Mavsdk => "mavsdk",
            ClientKind::Pymavlink => "pymavlink",
        }
    }
    fn label(self) -> &'static str {
        match self {
            ClientKind::Ours => "ours",
            ClientKind::Mavsdk => "MAVSDK",
            ClientKind::Pymavlink => "pymavlink",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ServerKind {
    Mavsdk,
    Ours,
}

impl ServerKind {
    const ALL: [ServerKind; 2] = [ServerKind::Mavsdk, ServerKind::Ours];
    fn key(self) -> &'static str {
        match self {
            ServerKind::Mavsdk => "mavsdk",
            ServerKind::Ours => "ours",
        }
    }
    fn label(self) -> &'static str {
        match self {
            ServerKind::Mavsdk => "MAVSDK",
            ServerKind::Ours => "ours",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Burst,
    Plain,
    Upload,
}

impl Op {
    const ALL: [Op; 3] = [Op::Burst, Op::Plain, Op::Upload];
    fn key(self) -> &'static str {
        match self {
            Op::Burst => "burst",
            Op::Plain => "plain",
            Op::Upload => "upload",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Op::Burst => "download burst",
            Op::Plain => "download plain",
            Op::Upload => "upload",
        }
    }
}

/// Whether a client can do an op against a server: Err(why) when it is not run.
fn support(
    client: ClientKind,
    server: ServerKind,
    op: Op,
    opts: &Options,
) -> Result<(), &'static str> {
    match (client, server, op) {
        (ClientKind::Pymavlink, _, Op::Plain) => Err("n/a"),
        (ClientKind::Pymavlink, ServerKind::Mavsdk, Op::Upload) if !opts.include_broken => {
            Err("skip")
        }
        _ => Ok(()),
    }
}

struct Options {
    links: Vec<LinkSpec>,
    clients: Vec<ClientKind>,
    servers: Vec<ServerKind>,
    ops: Vec<Op>,
    repeat_loopback: usize,
    repeat_slow: usize,
    seed: u64,
    size_scale: f64,
    cap_factor: f64,
    cap_add: f64,
    include_broken: bool,
    loopback_proxy: bool,
    pace_link: bool,
    python: Option<PathBuf>,
    markdown: Option<PathBuf>,
    verbose: bool,
    quick: bool,
}

fn usage() -> String {
    let links: Vec<&str> = LINKS.iter().map(|l| l.key).collect();
    format!(
        "usage: cargo run --release --example benchmark -- [options]\n\
         \x20 --quick               1 repeat, files 1/5 of the size (about 6 min)\n\
         \x20 --repeat N            repeats on every link (default: 3 loopback, 1 simulated)\n\
         \x20 --repeat-loopback N   repeats on loopback (default 3)\n\
         \x20 --repeat-slow N       repeats on the simulated links (default 1)\n\
         \x20 --link LIST           of {} (default all)\n\
         \x20 --client LIST         of ours,mavsdk,pymavlink (default all)\n\
         \x20 --server LIST         of mavsdk,ours (default all)\n\
         \x20 --op LIST             of burst,plain,upload (default all)\n\
         \x20 --seed N              link PRNG seed (default 1)\n\
         \x20 --size-scale F        multiply every file size by F\n\
         \x20 --cap-factor F        cap = F x ideal time + cap-add (default 3)\n\
         \x20 --cap-add S           (default 30)\n\
         \x20 --include-broken      also run pymavlink upload to MAVSDK's server (never finishes)\n\
         \x20 --loopback-proxy      send loopback through an unimpaired proxy too\n\
         \x20 --server-pace default our server paces bursts at its UDP default, not the link rate\n\
         \x20 --python PATH         venv python (default: tests/interop/ensure_venv.sh)\n\
         \x20 --markdown FILE       also write the markdown table to FILE\n\
         \x20 -v, --verbose         per-run proxy counters",
        links.join(",")
    )
}

fn parse_list<T: Copy>(
    value: &str,
    all: &[T],
    key: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let item = all
            .iter()
            .copied()
            .find(|x| key(*x) == word)
            .ok_or_else(|| format!("unknown value '{word}'"))?;
        out.push(item);
    }
    if out.is_empty() {
        return Err(format!("empty list '{value}'"));
    }
    Ok(out)
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        links: LINKS.to_vec(),
        clients: ClientKind::ALL.to_vec(),
        servers: ServerKind::ALL.to_vec(),
        ops: Op::ALL.to_vec(),
        repeat_loopback: 3,
        repeat_slow: 1,
        seed: 1,
        size_scale: 1.0,
        cap_factor: 3.0,
        cap_add: 30.0,
        include_broken: false,
        loopback_proxy: false,
        pace_link: true,
        python: None,
        markdown: None,
        verbose: false,
        quick: false,
    };
    let mut repeat_all = None;
    let mut repeat_loop = None;
    let mut repeat_slow = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let flag = flag.as_str();
        match flag {
            "-h" | "--help" => return Err(usage()),
            "--quick" => {
                o.quick = true;
                continue;
            }
            "--include-broken" => {
                o.include_broken = true;
                continue;
            }
            "--loopback-proxy" => {
                o.loopback_proxy = true;
                continue;
            }
            "-v" | "--verbose" => {
                o.verbose = true;
                continue;
            }
            _ => {}
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |e: String| format!("{flag}: {e}");
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| bad(format!("bad number '{v}'")))
        };
        let count = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(format!("bad count '{v}'")))
        };
        match flag {
            "--repeat" => repeat_all = Some(count(value)?),
            "--repeat-loopback" => repeat_loop = Some(count(value)?),
            "--repeat-slow" => repeat_slow = Some(count(value)?),
            "--link" => o.links = parse_list(value, &LINKS, |l| l.key).map_err(bad)?,
            "--client" => {
                o.clients = parse_list(value, &ClientKind::ALL, ClientKind::key).map_err(bad)?
            }
            "--server" => {
                o.servers = parse_list(value, &ServerKind::ALL, ServerKind::key).map_err(bad)?
            }
            "--op" => o.ops = parse_list(value, &Op::ALL, Op::key).map_err(bad)?,
            "--seed" => {
                o.seed = value
                    .parse()
                    .map_err(|_| bad(format!("bad seed '{value}'")))?
            }
            "--size-scale" => o.size_scale = num(value)?,
            "--cap-factor" => o.cap_factor = num(value)?,
            "--cap-add" => o.cap_add = num(value)?,
            "--server-pace" => match value.as_str() {
                "link" => o.pace_link = true,
                "default" => o.pace_link = false,
                _ => return Err(bad(format!("'{value}' is neither link nor default"))),
            },
            "--python" => o.python = Some(PathBuf::from(value)),
            "--markdown" => o.markdown = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    if o.quick {
        o.repeat_loopback = 1;
        o.repeat_slow = 1;
        o.size_scale *= 0.2;
    }
    if let Some(n) = repeat_all {
        o.repeat_loopback = n;
        o.repeat_slow = n;
    }
    if let Some(n) = repeat_loop {
        o.repeat_loopback = n;
    }
    if let Some(n) = repeat_slow {
        o.repeat_slow = n;
    }
    if o.size_scale <= 0.0 || o.size_scale.is_nan() || o.cap_factor < 0.0 || o.cap_add < 0.0 {
        return Err("sizes and caps must be positive".into());
    }
    Ok(o)
}

impl Options {
    fn size(&self, link: &LinkSpec) -> usize {
        ((link.size as f64 * self.size_scale).round() as usize).max(1)
    }
    fn repeats(&self, link: &LinkSpec) -> usize {
        if link.rate.is_none() {
            self.repeat_loopback
        } else {
            self.repeat_slow
        }
    }
    /// The time limit of one transfer on `link`.
    fn cap(&self, link: &LinkSpec) -> Duration {
        let ideal = link.rate.map_or(0.0, |r| {
            self.size(link) as f64 / (r as f64 * MAX_EFFICIENCY)
        });
        Duration::from_secs_f64(self.cap_factor * ideal + self.cap_add)
    }
    fn proxied(&self, link: &LinkSpec) -> bool {
        link.rate.is_some() || link.loss > 0.0 || link.delay_ms > 0 || self.loopback_proxy
    }
}

// ------------------------------------------------------------------ outcomes

/// How one transfer ended.
#[derive(Clone, Debug)]
enum RunOutcome {
    Ok {
        secs: f64,
        cpu_s: f64,
    },
    /// Still running at the cap (then cancelled / killed).
    Cap,
    /// The client itself gave up with a timeout.
    Timeout,
    Failed(String),
    Corrupt(String),
}

impl RunOutcome {
    fn short(&self) -> &'static str {
        match self {
            RunOutcome::Ok { .. } => "ok",
            RunOutcome::Cap => ">cap",
            RunOutcome::Timeout => "timeout",
            RunOutcome::Failed(_) => "FAIL",
            RunOutcome::Corrupt(_) => "CORRUPT",
        }
    }
}

/// The numbers of one table cell (medians over the successful repeats).
struct CellStats {
    goodput: f64,
    cpu_per_mb: f64,
    ok: usize,
    total: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn cell_stats(runs: &[RunOutcome], size: usize) -> Option<CellStats> {
    let oks: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|r| match r {
            RunOutcome::Ok { secs, cpu_s } => Some((*secs, *cpu_s)),
            _ => None,
        })
        .collect();
    if oks.is_empty() {
        return None;
    }
    let mb = size as f64 / 1e6;
    Some(CellStats {
        goodput: median(oks.iter().map(|(s, _)| size as f64 / s.max(1e-6)).collect()),
        cpu_per_mb: median(oks.iter().map(|(_, c)| c / mb).collect()),
        ok: oks.len(),
        total: runs.len(),
    })
}

fn fmt_rate(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e6 {
        format!("{:.2} MB/s", bytes_per_s / 1e6)
    } else if bytes_per_s >= 1e4 {
        format!("{:.1} KB/s", bytes_per_s / 1e3)
    } else {
        format!("{:.2} KB/s", bytes_per_s / 1e3)
    }
}

fn fmt_cpu(s_per_mb: f64) -> String {
    if s_per_mb >= 10.0 {
        format!("{s_per_mb:.1}")
    } else if s_per_mb >= 0.1 {
        format!("{s_per_mb:.2}")
    } else {
        format!("{s_per_mb:.3}")
    }
}

// ------------------------------------------------------------------ processes

/// A child process whose stdout lines arrive on a channel.
struct Spawned {
    guard: ChildGuard,
    lines: Receiver<String>,
}

/// Spawn `cmd` with piped stdin/stdout and wait for a stdout line starting
/// with "READY"; returns the rest of that line.
fn spawn_ready(mut cmd: Command, what: &str, limit: Duration) -> Result<(Spawned, String), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Drain stderr so a chatty peer never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink());
    });
    let stdin = child.stdin.take();
    let mut spawned = Spawned {
        guard: ChildGuard { child, stdin },
        lines: rx,
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match spawned.lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("READY") {
                    return Ok((spawned, rest.trim().to_string()));
                }
            }
            Err(_) => {
                let status = spawned.guard.child.try_wait();
                return Err(format!("{what} did not get ready (status {status:?})"));
            }
        }
    }
}

impl Spawned {
    /// Close stdin (the peer's signal to stop) and return a line starting
    /// with `prefix` printed before it exits, if any.
    fn finish(mut self, prefix: &str) -> Option<String> {
        drop(self.guard.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.trim().to_string());
            }
        }
        None
    }
}

/// A Python driver's run: its JSON answer, or None if it was killed at `limit`.
fn run_driver(
    python: &Path,
    script_name: &str,
    args: &[String],
    limit: Duration,
) -> Result<Option<DriverAnswer>, String> {
    let mut child = Command::new(python)
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {script_name}: {e}"))?;
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let mut killed = false;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if killed {
        return Ok(None);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| {
            let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            format!("{script_name} printed no JSON ({tail})")
        })?
        .to_string();
    Ok(Some(DriverAnswer { line, stderr }))
}

// ------------------------------------------------------------------ CPU time

/// CPU time (user + system) of this whole process, in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage struct owned by this frame.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

// ------------------------------------------------------------------ one run

struct RunContext<'a> {
    opts: &'a Options,
    python: Option<&'a Path>,
    link: LinkSpec,
    server: ServerKind,
    client: ClientKind,
    op: Op,
    rep: usize,
}

fn impairment(link: &LinkSpec, seed: u64) -> Impairment {
    let mut imp = Impairment::none()
        .with_delay(Duration::from_millis(link.delay_ms))
        .with_loss(link.loss)
        .with_seed(seed);
    if let Some(rate) = link.rate {
        imp = imp
            .with_rate(rate)
            .with_queue_limit(QueueLimit::Time(Duration::from_secs(1)));
    }
    imp
}

/// Runs one transfer with fresh processes; returns its outcome and the
/// proxy's counters (when there is a proxy).
fn run_once(cx: &RunContext) -> (RunOutcome, Option<String>) {
    match run_once_inner(cx) {
        Ok(x) => x,
        Err(msg) => (RunOutcome::Failed(msg), None),
    }
}

fn run_once_inner(cx: &RunContext) -> Result<(RunOutcome, Option<String>), String> {
    let opts = cx.opts;
    let size = opts.size(&cx.link);
    let cap = opts.cap(&cx.link);
    let tmp = tempfile::Builder::new()
        .prefix("mavftp-bench-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let root = tmp.path().join("root");
    let local_dir = tmp.path().join("local");
    let up_dir = tmp.path().join("up");
    for d in [&root, &local_dir, &up_dir] {
        std::fs::create_dir(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    let down_data = pattern(size, 11 + cx.rep as u32);
    let up_data = pattern(size, 23 + cx.rep as u32);
    let up_file = up_dir.join(UP_NAME);
    std::fs::write(root.join(DOWN_NAME), &down_data).map_err(|e| format!("write: {e}"))?;
    std::fs::write(&up_file, &up_data).map_err(|e| format!("write: {e}"))?;

    // The server, and the helper child with the proxy (and our server).
    let mut mavsdk_server = None;
    let seed = opts.seed.wrapping_add(1000 * cx.rep as u64);
    let mut peer_cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    peer_cmd.arg("--peer");
    let forward = match cx.server {
        ServerKind::Mavsdk => {
            let python = cx.python.ok_or("no python")?;
            let port = free_udp_port();
            let mut cmd = Command::new(python);
            cmd.arg(script("mavsdk_ftp_server.py"))
                .arg("--root")
                .arg(&root)
                .arg("--url")
                .arg(format!("udpin://127.0.0.1:{port}"));
            let (spawned, _) = spawn_ready(cmd, "mavsdk_ftp_server.py", Duration::from_secs(30))?;
            mavsdk_server = Some(spawned);
            let addr = format!("127.0.0.1:{port}");
            peer_cmd.args(["--forward", &addr]);
            Some(addr)
        }
        ServerKind::Ours => {
            peer_cmd.arg("--serve-root").arg(&root);
            if let (true, Some(rate)) = (opts.pace_link, cx.link.rate) {
                peer_cmd.args(["--server-rate", &rate.to_string()]);
            }
            None
        }
    };
    let proxied = opts.proxied(&cx.link);
    let mut peer = None;
    let target = if proxied || cx.server == ServerKind::Ours {
        if proxied {
            peer_cmd.args([
                "--rate",
                &cx.link.rate.unwrap_or(0).to_string(),
                "--delay-ms",
                &cx.link.delay_ms.to_string(),
                "--loss",
                &cx.link.loss.to_string(),
                "--seed",
                &seed.to_string(),
            ]);
        } else {
            peer_cmd.arg("--no-proxy");
        }
        let (spawned, addr) = spawn_ready(peer_cmd, "benchmark --peer", Duration::from_secs(10))?;
        peer = Some(spawned);
        addr
    } else {
        forward.clone().ok_or("no server address")?
    };

    let outcome = match cx.client {
        ClientKind::Ours => run_ours(&target, cx.op, &local_dir, &up_file, cap),
        ClientKind::Mavsdk | ClientKind::Pymavlink => {
            run_python(cx, &target, &local_dir, &up_file, cap)
        }
    };
    let outcome = match outcome {
        RunOutcome::Ok { secs, cpu_s } => {
            let (path, want) = match cx.op {
                Op::Upload => (root.join(UP_NAME), &up_data),
                _ => (local_dir.join(DOWN_NAME), &down_data),
            };
            match std::fs::read(&path) {
                Ok(got) if got == *want => RunOutcome::Ok { secs, cpu_s },
                Ok(got) => RunOutcome::Corrupt(format!(
                    "{} has {} bytes, differs from the {} sent",
                    path.display(),
                    got.len(),
                    want.len()
                )),
                Err(e) => RunOutcome::Corrupt(format!("{}: {e}", path.display())),
            }
        }
        other => other,
    };
    let stats = peer.and_then(|p| p.finish("STATS"));
    drop(mavsdk_server);
    Ok((outcome, stats))
}

/// Our client, in this process.
fn run_ours(target: &str, op: Op, local_dir: &Path, up_file: &Path, cap: Duration) -> RunOutcome {
    let link = match Link::open(&format!("udpout://{target}"), 245, 190) {
        Ok(l) => l,
        Err(e) => return RunOutcome::Failed(format!("link: {e:?}")),
    };
    // Like the drivers' discovery: start once the server's heartbeat is heard.
    let deadline = Instant::now() + Duration::from_secs_f64(DISCOVER_S);
    while !link.has_heard(1, 1) {
        if Instant::now() > deadline {
            link.close();
            return RunOutcome::Failed("no HEARTBEAT from 1/1".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let client = match Client::new(&link, 1, 1) {
        Ok(c) => c,
        Err(e) => {
            link.close();
            return RunOutcome::Failed(format!("client: {e:?}"));
        }
    };
    // Library defaults throughout (the upload window probes past 5 itself).
    let (tx, rx) = channel::<(FtpOutcome<()>, Instant)>();
    let done: Box<dyn FnOnce(FtpOutcome<()>) + Send> = Box::new(move |r| {
        let _ = tx.send((r, Instant::now()));
    });
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    let started = match op {
        Op::Burst | Op::Plain => client.download_async(
            &format!("/{DOWN_NAME}"),
            local_dir,
            op == Op::Burst,
            None,
            done,
        ),
        Op::Upload => client.upload_async(up_file, "/", None, done),
    };
    let outcome = match started {
        Err(e) => RunOutcome::Failed(format!("{}: {}", e.result, e.message)),
        Ok(()) => match rx.recv_timeout(cap) {
            Ok((Ok(()), at)) => RunOutcome::Ok {
                secs: at.duration_since(t0).as_secs_f64(),
                cpu_s: process_cpu_s() - cpu0,
            },
            Ok((Err(e), _)) if e.result == mavftp::FtpResult::Timeout => RunOutcome::Timeout,
            Ok((Err(e), _)) => RunOutcome::Failed(format!("{}: {}", e.result, e.message)),
            Err(_) => {
                client.cancel();
                let _ = rx.recv_timeout(Duration::from_secs(10));
                RunOutcome::Cap
            }
        },
    };
    drop(client);
    link.close();
    outcome
}

/// MAVSDK's or pymavlink's client, through its driver script.
fn run_python(
    cx: &RunContext,
    target: &str,
    local_dir: &Path,
    up_file: &Path,
    cap: Duration,
) -> RunOutcome {
    let Some(python) = cx.python else {
        return RunOutcome::Failed("no python".into());
    };
    let script_name = match cx.client {
        ClientKind::Mavsdk => "mavsdk_ftp_client.py",
        _ => "pymavlink_ftp_client.py",
    };
    let mut args: Vec<String> = vec![
        "--url".into(),
        format!("udpout://{target}"),
        "--discover-timeout".into(),
        DISCOVER_S.to_string(),
        "--timeout".into(),
        // pymavlink wants a limit above its 3.7 s idle time.
        format!("{:.1}", cap.as_secs_f64().max(5.0)),
    ];
    if cx.client == ClientKind::Pymavlink {
        args.extend(["--burst-size", "239", "--write-size", "239"].map(String::from));
    }
    match cx.op {
        Op::Burst | Op::Plain => {
            args.extend(["download".into(), format!("/{DOWN_NAME}")]);
            args.push(local_dir.display().to_string());
            if cx.op == Op::Burst {
                args.push("--burst".into());
            }
        }
        Op::Upload => {
            args.extend(["upload".into(), up_file.display().to_string(), "/".into()]);
        }
    }
    let limit = cap + Duration::from_secs_f64(DISCOVER_S + 20.0);
    let answer = match run_driver(python, script_name, &args, limit) {
        Ok(Some(a)) => a,
        Ok(None) => return RunOutcome::Cap,
        Err(e) => return RunOutcome::Failed(e),
    };
    let number = |key: &str| answer.raw_field(key).and_then(|v| v.parse::<f64>().ok());
    let elapsed = number("elapsed_s").unwrap_or(0.0);
    match answer.result().as_str() {
        "SUCCESS" => match number("cpu_s") {
            Some(cpu_s) => RunOutcome::Ok {
                secs: elapsed,
                cpu_s,
            },
            None => RunOutcome::Failed(format!("{script_name} reports no cpu_s: {}", answer.line)),
        },
        "HARNESS_TIMEOUT" => RunOutcome::Cap,
        "TIMEOUT" if elapsed + 0.5 >= cap.as_secs_f64() => RunOutcome::Cap,
        "TIMEOUT" => RunOutcome::Timeout,
        other => RunOutcome::Failed(format!("{other}: {}", answer.line)),
    }
}

// ------------------------------------------------------------------ the peer helper

/// `benchmark --peer`: our server and/or the link proxy, in a child process.
/// Prints "READY <address clients send to>", runs until stdin closes, then
/// prints "STATS ..." (proxy counters) and exits.
fn peer_main(args: &[String]) -> ExitCode {
    match peer_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark --peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn peer_run(args: &[String]) -> Result<(), String> {
    let mut forward: Option<SocketAddr> = None;
    let mut root: Option<PathBuf> = None;
    let mut server_rate: Option<u32> = None;
    let mut no_proxy = false;
    let mut rate = 0u32;
    let mut delay_ms = 0u64;
    let mut loss = 0.0f64;
    let mut seed = 1u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--no-proxy" {
            no_proxy = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value '{v}'");
        match flag.as_str() {
            "--forward" => forward = Some(v.parse().map_err(|_| bad())?),
            "--serve-root" => root = Some(PathBuf::from(v)),
            "--server-rate" => server_rate = Some(v.parse().map_err(|_| bad())?),
            "--rate" => rate = v.parse().map_err(|_| bad())?,
            "--delay-ms" => delay_ms = v.parse().map_err(|_| bad())?,
            "--loss" => loss = v.parse().map_err(|_| bad())?,
            "--seed" => seed = v.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let mut server_parts = None;
    if let Some(root) = &root {
        let link =
            Link::open("udpin://127.0.0.1:0", 1, 1).map_err(|e| format!("server link: {e:?}"))?;
        let server = Server::new(&link, root).map_err(|e| format!("server: {e:?}"))?;
        if let Some(r) = server_rate {
            server.set_unknown_link_rate(r);
        }
        forward = link.local_addr();
        server_parts = Some((link, server));
    }
    let forward = forward.ok_or("--forward or --serve-root is required")?;
    let proxy = if no_proxy {
        None
    } else {
        let spec = LinkSpec {
            key: "",
            label: "",
            rate: (rate > 0).then_some(rate),
            delay_ms,
            loss,
            size: 0,
        };
        let up = impairment(&spec, seed);
        let down = impairment(&spec, seed.wrapping_add(1));
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        Some(UdpProxy::start(listen, forward, up, down).map_err(|e| format!("proxy: {e:?}"))?)
    };
    let addr = proxy.as_ref().map_or(forward, UdpProxy::listen_addr);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY {addr}");
    let _ = out.flush();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    if let Some(p) = &proxy {
        let f = |s: PipeStats| {
            format!(
                "delivered {} ({} B) lost {} queue-dropped {}",
                s.delivered, s.delivered_bytes, s.lost, s.queue_dropped
            )
        };
        let _ = writeln!(
            out,
            "STATS up: {} | down: {}",
            f(p.up_stats()),
            f(p.down_stats())
        );
        let _ = out.flush();
    }
    drop(proxy);
    if let Some((link, server)) = server_parts {
        drop(server);
        link.close();
    }
    Ok(())
}

// ------------------------------------------------------------------ report

/// UTC date and time of now, "YYYY-MM-DD HH:MM UTC".
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn peer_versions(python: &Path) -> String {
    let code = "import importlib.metadata as m; print('mavsdk', m.version('mavsdk'), '/ pymavlink', m.version('pymavlink'))";
    Command::new(python)
        .args(["-c", code])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Results of every (link, server, op, client).
struct Results {
    runs: Vec<(usize, ServerKind, Op, ClientKind, Vec<RunOutcome>)>,
}

impl Results {
    fn get(
        &self,
        link: usize,
        server: ServerKind,
        op: Op,
        client: ClientKind,
    ) -> Option<&[RunOutcome]> {
        self.runs
            .iter()
            .find(|(l, s, o, c, _)| *l == link && *s == server && *o == op && *c == client)
            .map(|(.., v)| v.as_slice())
    }
    fn goodput(
        &self,
        opts: &Options,
        link: usize,
        server: ServerKind,
        op: Op,
        client: ClientKind,
    ) -> Option<f64> {
        let runs = self.get(link, server, op, client)?;
        cell_stats(runs, opts.size(&opts.links[link])).map(|c| c.goodput)
    }
}

/// The text of one client's cell: (goodput, % of link, CPU s/MB).
fn cell_texts(
    opts: &Options,
    results: &Results,
    li: usize,
    server: ServerKind,
    op: Op,
    client: ClientKind,
) -> (String, String, String) {
    let link = &opts.links[li];
    if let Err(why) = support(client, server, op, opts) {
        return (why.into(), String::new(), String::new());
    }
    let Some(runs) = results.get(li, server, op, client) else {
        return ("–".into(), String::new(), String::new());
    };
    match cell_stats(runs, opts.size(link)) {
        Some(c) => {
            let mut rate = fmt_rate(c.goodput);
            if c.ok < c.total {
                let _ = write!(rate, " ({}/{})", c.ok, c.total);
            }
            let pct = link.rate.map_or("–".into(), |r| {
                format!("{:.1} %", 100.0 * c.goodput / r as f64)
            });
            (rate, pct, fmt_cpu(c.cpu_per_mb))
        }
        None => {
            let first = runs.first().map_or("–", RunOutcome::short);
            (first.into(), String::new(), String::new())
        }
    }
}

/// Our goodput over the best other client's in the same row.
fn ratio_text(opts: &Options, results: &Results, li: usize, server: ServerKind, op: Op) -> String {
    if !opts.clients.contains(&ClientKind::Ours) {
        return "–".into();
    }
    let ours = results.goodput(opts, li, server, op, ClientKind::Ours);
    let best_other = opts
        .clients
        .iter()
        .filter(|c| **c != ClientKind::Ours)
        .filter_map(|c| results.goodput(opts, li, server, op, *c))
        .fold(None, |acc: Option<f64>, g| {
            Some(acc.map_or(g, |a| a.max(g)))
        });
    match (ours, best_other) {
        (Some(o), Some(b)) => format!("×{:.2}", o / b),
        (None, Some(_)) if results.get(li, server, op, ClientKind::Ours).is_some() => "×0".into(),
        _ => "–".into(),
    }
}

fn render_tables(opts: &Options, results: &Results) -> (String, String) {
    let clients = &opts.clients;
    let mut head = vec!["link".to_string(), "server".into(), "op".into()];
    for c in clients {
        head.push(format!("{} goodput", c.label()));
        head.push("% link".into());
        head.push("CPU s/MB".into());
    }
    head.push("ours / best other".into());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut md = String::new();
    let _ = write!(md, "| link | server | op |");
    for c in clients {
        let _ = write!(md, " {} |", c.label());
    }
    let _ = writeln!(md, " ours / best other |");
    let _ = writeln!(md, "|{}", "---|".repeat(4 + clients.len()));
    for (li, link) in opts.links.iter().enumerate() {
        for server in &opts.servers {
            for op in &opts.ops {
                let link_text = format!("{} ({})", link.label, fmt_size(opts.size(link)));
                let mut row = vec![link_text.clone(), server.label().into(), op.label().into()];
                let _ = write!(md, "| {link_text} | {} | {} |", server.label(), op.label());
                for c in clients {
                    let (g, p, cpu) = cell_texts(opts, results, li, *server, *op, *c);
                    let md_cell = match (p.is_empty(), cpu.is_empty()) {
                        (true, true) => g.clone(),
                        _ => format!("{g} · {p} · {cpu}"),
                    };
                    let _ = write!(md, " {md_cell} |");
                    row.extend([g, p, cpu]);
                }
                let ratio = ratio_text(opts, results, li, *server, *op);
                let _ = writeln!(md, " {ratio} |");
                row.push(ratio);
                rows.push(row);
            }
        }
    }
    let _ = writeln!(
        md,
        "\nCells: median goodput · % of the link byte rate · client CPU s per MB. \
         MB = 10^6 B. (k/n): only k of n repeats finished. \
         n/a: pymavlink has no plain download. skip: pymavlink upload to MAVSDK's server \
         never finishes (WriteFile ACK offset 0), not run."
    );
    // Aligned text table.
    let ncol = head.len();
    let mut width = vec![0usize; ncol];
    for r in std::iter::once(&head).chain(rows.iter()) {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let line = |r: &Vec<String>, text: &mut String| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = width[i] - c.chars().count();
                if i < 3 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    };
    line(&head, &mut text);
    let _ = writeln!(
        text,
        "{}",
        "-".repeat(width.iter().sum::<usize>() + 2 * (ncol - 1))
    );
    for r in &rows {
        line(r, &mut text);
    }
    (text, md)
}

fn fmt_size(bytes: usize) -> String {
    if bytes >= 1_000_000 && bytes.is_multiple_of(1000) {
        format!("{} MB", bytes as f64 / 1e6)
    } else if bytes >= 1000 && bytes.is_multiple_of(1000) {
        format!("{} KB", bytes / 1000)
    } else {
        format!("{bytes} B")
    }
}

/// The issue's targets, checked against this run's medians.
fn render_targets(opts: &Options, results: &Results) -> String {
    let mut out = String::new();
    let find = |key: &str| opts.links.iter().position(|l| l.key == key);
    let pct = |li: usize, s: ServerKind, op: Op| -> Option<f64> {
        let rate = opts.links[li].rate? as f64;
        results
            .goodput(opts, li, s, op, ClientKind::Ours)
            .map(|g| 100.0 * g / rate)
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for (key, down_min, up_min) in [
        ("5760", 87.0, 87.0),
        ("5760-loss", 82.0, 80.0),
        ("92160", 82.0, 80.0),
    ] {
        let Some(li) = find(key) else { continue };
        for s in &opts.servers {
            for op in &opts.ops {
                let min = if *op == Op::Upload { up_min } else { down_min };
                let got = pct(li, *s, *op);
                let text = got.map_or("not measured".into(), |p| {
                    format!("{p:.1} % → {}", verdict(p >= min))
                });
                let _ = writeln!(
                    out,
                    "- {}, server {}, ours {}: ≥ {min} % of link: {text}",
                    opts.links[li].label,
                    s.label(),
                    op.label()
                );
            }
        }
    }
    if let Some(li) = find("loopback") {
        let g = |s, op, c| results.goodput(opts, li, s, op, c);
        let m = ServerKind::Mavsdk;
        for (op, factor) in [(Op::Plain, 3.0), (Op::Upload, 3.0), (Op::Burst, 1.0)] {
            let text = match (g(m, op, ClientKind::Ours), g(m, op, ClientKind::Mavsdk)) {
                (Some(o), Some(b)) => format!("×{:.2} → {}", o / b, verdict(o >= factor * b)),
                _ => "not measured".into(),
            };
            let _ = writeln!(
                out,
                "- loopback, MAVSDK server, {}: ours ≥ {factor}× MAVSDK client: {text}",
                op.label()
            );
        }
        let text = match (
            g(ServerKind::Ours, Op::Burst, ClientKind::Ours),
            g(m, Op::Burst, ClientKind::Mavsdk),
        ) {
            (Some(o), Some(b)) => format!("×{:.2} → {}", o / b, verdict(o >= 10.0 * b)),
            _ => "not measured".into(),
        };
        let _ = writeln!(
            out,
            "- loopback burst: ours+our server ≥ 10× MAVSDK client+MAVSDK server: {text}"
        );
    }
    out
}

// ------------------------------------------------------------------ main

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peer") {
        return peer_main(&args[1..]);
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let needs_python = opts.servers.contains(&ServerKind::Mavsdk)
        || opts.clients.iter().any(|c| *c != ClientKind::Ours);
    let python: Option<PathBuf> = if needs_python {
        match &opts.python {
            Some(p) => Some(p.clone()),
            None => match venv_python() {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("benchmark: {e}");
                    return ExitCode::FAILURE;
                }
            },
        }
    } else {
        None
    };

    // The plan, in an order that interleaves clients so load drifts hit all alike.
    let mut plan = Vec::new();
    for (li, link) in opts.links.iter().enumerate() {
        for rep in 0..opts.repeats(link) {
            for server in &opts.servers {
                for op in &opts.ops {
                    for client in &opts.clients {
                        if support(*client, *server, *op, &opts).is_ok() {
                            plan.push((li, rep, *server, *op, *client));
                        }
                    }
                }
            }
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut header = String::new();
    let _ = writeln!(header, "mavftp benchmark — {}", utc_now());
    let _ = writeln!(
        header,
        "machine: {cores} cores, load {load}; mavftp {}; peers: {}",
        env!("CARGO_PKG_VERSION"),
        python.as_deref().map_or("none".into(), peer_versions)
    );
    let _ = writeln!(
        header,
        "seed {} (repeat r uses seed + 1000 r); repeats: loopback {}, simulated links {}; \
         cap = {} × ideal + {} s{}",
        opts.seed,
        opts.repeat_loopback,
        opts.repeat_slow,
        opts.cap_factor,
        opts.cap_add,
        if opts.quick {
            "; --quick (files 1/5)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        header,
        "links: UDP via the seeded proxy, same impairment both ways, 1 s drop-tail queue{}; \
         our server in a child process{}; pymavlink chunks 239 B",
        if opts.loopback_proxy {
            ""
        } else {
            " (loopback: direct)"
        },
        if opts.pace_link {
            ", told the link rate"
        } else {
            ", default pacing"
        }
    );
    let _ = writeln!(header, "{} runs planned", plan.len());
    print!("{header}");
    let _ = std::io::stdout().flush();

    let started = Instant::now();
    let mut results = Results { runs: Vec::new() };
    for (n, (li, rep, server, op, client)) in plan.iter().copied().enumerate() {
        let link = opts.links[li];
        let cx = RunContext {
            opts: &opts,
            python: python.as_deref(),
            link,
            server,
            client,
            op,
            rep,
        };
        let t = Instant::now();
        let (outcome, stats) = run_once(&cx);
        let size = opts.size(&link);
        let detail = match &outcome {
            RunOutcome::Ok { secs, cpu_s } => {
                let g = size as f64 / secs.max(1e-6);
                let pct = link
                    .rate
                    .map_or(String::new(), |r| format!(" {:.1} %", 100.0 * g / r as f64));
                format!(
                    "{}{pct} in {secs:.2} s, cpu {}",
                    fmt_rate(g),
                    fmt_cpu(cpu_s / (size as f64 / 1e6))
                )
            }
            RunOutcome::Failed(m) | RunOutcome::Corrupt(m) => format!("{} {m}", outcome.short()),
            other => other.short().to_string(),
        };
        eprintln!(
            "[{}/{}] {} | server {} | {} {} | rep {}: {detail} ({:.0} s)",
            n + 1,
            plan.len(),
            link.label,
            server.label(),
            client.label(),
            op.key(),
            rep + 1,
            t.elapsed().as_secs_f64()
        );
        if opts.verbose
            && let Some(s) = stats
        {
            eprintln!("    proxy {s}");
        }
        match results
            .runs
            .iter_mut()
            .find(|(l, s, o, c, _)| *l == li && *s == server && *o == op && *c == client)
        {
            Some((.., v)) => v.push(outcome),
            None => results.runs.push((li, server, op, client, vec![outcome])),
        }
    }

    let (text, md) = render_tables(&opts, &results);
    println!();
    print!("{text}");
    println!(
        "\nwall time {:.1} min\n\nTargets (issue 4):\n{}",
        started.elapsed().as_secs_f64() / 60.0,
        render_targets(&opts, &results)
    );
    println!(
        "Markdown:\n\n{header_md}{md}",
        header_md = markdown_header(&header)
    );
    if let Some(path) = &opts.markdown
        && let Err(e) = std::fs::write(path, format!("{}{md}", markdown_header(&header)))
    {
        eprintln!("benchmark: cannot write {}: {e}", path.display());
    }
    ExitCode::SUCCESS
}

/// The run parameters as a markdown paragraph.
fn markdown_header(header: &str) -> String {
    let lines: Vec<&str> = header
        .lines()
        .filter(|l| !l.ends_with("runs planned"))
        .collect();
    format!("{}\n\n", lines.join("  \n"))
}

/// The venv's python (tests/interop/ensure_venv.sh), without panicking.
fn venv_python() -> Result<PathBuf, String> {
    let out = Command::new("bash")
        .arg(script("ensure_venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run ensure_venv.sh: {e}"))?;
    if !out.status.success() {
        return Err("ensure_venv.sh failed (needs mavsdk==4.1.0 and pymavlink)".into());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let py = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if py.exists() {
        Ok(py)
    } else {
        Err(format!("venv python {} missing", py.display()))
    }
}
