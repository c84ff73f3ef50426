//! `benchmark --fleet`: many vehicles reached through one ground link, as a
//! ground station talks to a fleet (issue 14).
//!
//! Three processes per part, all this executable:
//! - the ground (`--fleet-ground`): ONE link, `udpin` on one UDP port, and one
//!   [`mavftp::Client`] per vehicle (target system k, component 1). It waits
//!   until every vehicle's heartbeat was heard, then either starts every
//!   download at the same moment (`transfer`) or stays idle (`idle`), and
//!   reports its own CPU seconds (getrusage over the transfers or the idle
//!   time), its threads (/proc/self/status, sampled every 0.5 s — the
//!   sampling is part of the ground's CPU figure, so it is kept rare — peak) and
//!   memory (VmRSS, VmHWM);
//! - the vehicles (`--fleet-vehicles`): for k = 1..N our server as system k
//!   on a `udpout` link to its own [`UdpProxy`], which relays to the ground's
//!   port through a simulated radio (same impairment both ways, seeds
//!   seed + 2k and seed + 2k + 1), so each vehicle is a distinct UDP source
//!   on the ground's one port; each server is told its link rate;
//! - this process, which writes the files (a different 200 KB file per
//!   vehicle), starts the two others, checks every downloaded file byte for
//!   byte and prints the figures.
//!
//! The ground's sends are routed by the link: a client's request goes where
//! its vehicle was heard only with the link routing of issue 9 (branch
//! i9-server); before it, a `udpin` link sends every request to each of the
//! last few addresses it heard (at most 8), so with more vehicles than that
//! most requests reach no one, and each vehicle's uplink carries the others'
//! requests too.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use mavftp::link::sim::{LossMode, PipeStats, UdpProxy};
use mavftp::{Client, FtpOutcome, Link, Server};

use crate::cli::{LinkSpec, MAX_EFFICIENCY, Op, ceiling, impairment, parse_list};
use crate::process::{pattern, process_cpu_s, spawn_ready};
use crate::report::{fmt_cpu, median, utc_now};
use crate::run::DOWN_NAME;

/// The ground station's own ids.
const GROUND_IDS: (u8, u8) = (245, 190);
/// Vehicles are systems 1..=N, below the ground's id.
const MAX_VEHICLES: usize = 200;
/// How long the ground waits for every vehicle's first heartbeat.
const HEAR_ALL_S: f64 = 60.0;

struct FleetOptions {
    vehicles: usize,
    size: usize,
    ops: Vec<Op>,
    link: LinkSpec,
    loss_mode: LossMode,
    seed: u64,
    idle_vehicles: usize,
    idle_s: f64,
    transfers: bool,
    idle: bool,
    markdown: Option<PathBuf>,
}

fn usage() -> String {
    "usage: cargo run --release --example benchmark -- --fleet [options]\n\
     \x20 --vehicles N        vehicles downloading at once (default 20)\n\
     \x20 --size-kb N         file per vehicle, KB = 1000 B (default 200)\n\
     \x20 --op LIST           of burst,plain (default burst,plain; one fleet run each)\n\
     \x20 --rate B            each vehicle's link, bytes/s (default 5760)\n\
     \x20 --delay-ms MS       one-way delay (default 10)\n\
     \x20 --loss P            loss each way (default 0.01)\n\
     \x20 --loss-mode M       on-air (default) or before-link\n\
     \x20 --seed N            (default 1)\n\
     \x20 --idle-vehicles N   vehicles of the idle part (default 100)\n\
     \x20 --idle-s S          length of the idle part (default 60)\n\
     \x20 --only PART         transfers or idle (default both)\n\
     \x20 --quick             4 vehicles × 20 KB, burst; idle 10 vehicles × 10 s\n\
     \x20 --markdown FILE     also write the markdown report to FILE"
        .to_string()
}

fn parse(args: &[String]) -> Result<FleetOptions, String> {
    let mut o = FleetOptions {
        vehicles: 20,
        size: 200_000,
        ops: vec![Op::Burst, Op::Plain],
        link: LinkSpec {
            key: "fleet",
            label: "",
            rate: Some(5760),
            delay_ms: 10,
            loss: 0.01,
            size: 0,
        },
        loss_mode: LossMode::OnAir,
        seed: 1,
        idle_vehicles: 100,
        idle_s: 60.0,
        transfers: true,
        idle: true,
        markdown: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(usage()),
            "--quick" => {
                o.vehicles = 4;
                o.size = 20_000;
                o.ops = vec![Op::Burst];
                o.idle_vehicles = 10;
                o.idle_s = 10.0;
                continue;
            }
            _ => {}
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |what: &str| format!("{flag}: bad {what} '{value}'");
        let count = |max: usize| {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| bad(&format!("count (1..={max})")))
        };
        match flag.as_str() {
            "--vehicles" => o.vehicles = count(MAX_VEHICLES)?,
            "--idle-vehicles" => o.idle_vehicles = count(MAX_VEHICLES)?,
            "--size-kb" => o.size = count(1_000_000)? * 1000,
            "--op" => {
                o.ops = parse_list(value, &[Op::Burst, Op::Plain], Op::key)
                    .map_err(|e| format!("{flag}: {e}"))?
            }
            "--rate" => o.link.rate = Some(value.parse().map_err(|_| bad("rate"))?),
            "--delay-ms" => o.link.delay_ms = value.parse().map_err(|_| bad("delay"))?,
            "--loss" => {
                o.link.loss = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..1.0).contains(p))
                    .ok_or_else(|| bad("probability"))?
            }
            "--loss-mode" => o.loss_mode = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--seed" => o.seed = value.parse().map_err(|_| bad("seed"))?,
            "--idle-s" => {
                o.idle_s = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .ok_or_else(|| bad("time"))?
            }
            "--only" => match value.as_str() {
                "transfers" => o.idle = false,
                "idle" => o.transfers = false,
                _ => return Err(bad("part (transfers or idle)")),
            },
            "--markdown" => o.markdown = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    Ok(o)
}

// ------------------------------------------------------------------ /proc

/// A field of /proc/self/status as a number ("Threads", or "VmRSS" and
/// "VmHWM" in kB).
fn self_status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ------------------------------------------------------------------ the ground

/// `--fleet-ground --vehicles N --part transfer|idle [--op OP --dir DIR
/// --cap-s S] [--idle-s S]`: prints "READY <udp address>", "HEARD <s>"
/// once every vehicle was heard, then per transfer "XFER <k> <s> OK|<why>"
/// and "SUMMARY <wall s> <cpu s> <threads before> <threads peak> <VmHWM kB>",
/// or for the idle part "IDLE <s> <cpu s> <threads> <VmRSS kB> <VmHWM kB>".
pub fn ground_main(args: &[String]) -> ExitCode {
    match ground_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

fn ground_run(args: &[String]) -> Result<(), String> {
    let mut vehicles = 0usize;
    let mut transfer = true;
    let mut op = Op::Burst;
    let mut dir = PathBuf::new();
    let mut cap = Duration::from_secs(600);
    let mut idle = Duration::from_secs(60);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value '{v}'");
        match flag.as_str() {
            "--vehicles" => vehicles = v.parse().map_err(|_| bad())?,
            "--part" => transfer = v == "transfer",
            "--op" => op = Op::ALL.into_iter().find(|o| o.key() == v).ok_or_else(bad)?,
            "--dir" => dir = PathBuf::from(v),
            "--cap-s" => cap = Duration::from_secs_f64(v.parse().map_err(|_| bad())?),
            "--idle-s" => idle = Duration::from_secs_f64(v.parse().map_err(|_| bad())?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let link = Link::open("udpin://127.0.0.1:0", GROUND_IDS.0, GROUND_IDS.1)
        .map_err(|e| format!("ground link: {e}"))?;
    let addr = link.local_addr().ok_or("ground link has no address")?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY {addr}");
    let _ = out.flush();
    let systems: Vec<u8> = (1..=vehicles).map(|k| k as u8).collect();
    let t = Instant::now();
    while !systems.iter().all(|s| link.has_heard(*s, 1)) {
        if t.elapsed().as_secs_f64() > HEAR_ALL_S {
            let heard = systems.iter().filter(|s| link.has_heard(**s, 1)).count();
            return Err(format!(
                "heard {heard} of {vehicles} vehicles in {HEAR_ALL_S} s"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = writeln!(out, "HEARD {:.3}", t.elapsed().as_secs_f64());
    let _ = out.flush();
    let clients = systems
        .iter()
        .map(|s| Client::new(&link, *s, 1).map_err(|e| format!("client {s}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;

    if !transfer {
        let cpu0 = process_cpu_s();
        let t0 = Instant::now();
        let mut threads = 0;
        while t0.elapsed() < idle {
            threads = threads.max(self_status("Threads").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = writeln!(
            out,
            "IDLE {:.3} {:.6} {threads} {} {}",
            t0.elapsed().as_secs_f64(),
            process_cpu_s() - cpu0,
            self_status("VmRSS").unwrap_or(0),
            self_status("VmHWM").unwrap_or(0)
        );
        drop(clients);
        link.close();
        return Ok(());
    }

    let threads_before = self_status("Threads").unwrap_or(0);
    let (tx, rx) = channel::<(usize, FtpOutcome<()>, Instant)>();
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    let mut pending = 0;
    for (i, client) in clients.iter().enumerate() {
        let local = dir.join((i + 1).to_string());
        let tx = tx.clone();
        let done: Box<dyn FnOnce(FtpOutcome<()>) + Send> = Box::new(move |r| {
            let _ = tx.send((i, r, Instant::now()));
        });
        match client.download_async(
            &format!("/{DOWN_NAME}"),
            &local,
            op == Op::Burst,
            None,
            done,
        ) {
            Ok(()) => pending += 1,
            Err(e) => {
                let _ = writeln!(out, "XFER {} 0 {}: {}", i + 1, e.result, e.message);
            }
        }
    }
    let mut threads_peak = threads_before;
    let deadline = t0 + cap;
    while pending > 0 && Instant::now() < deadline {
        threads_peak = threads_peak.max(self_status("Threads").unwrap_or(0));
        if let Ok((i, result, at)) = rx.recv_timeout(Duration::from_millis(500)) {
            pending -= 1;
            let verdict = match result {
                Ok(()) => "OK".to_string(),
                Err(e) => format!("{}: {}", e.result, e.message),
            };
            let secs = at.duration_since(t0).as_secs_f64();
            let _ = writeln!(out, "XFER {} {secs:.3} {verdict}", i + 1);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_s() - cpu0;
    let _ = writeln!(
        out,
        "SUMMARY {wall:.3} {cpu:.6} {threads_before} {threads_peak} {}",
        self_status("VmHWM").unwrap_or(0)
    );
    let _ = out.flush();
    for client in &clients {
        client.cancel();
    }
    drop(clients);
    link.close();
    Ok(())
}

// ------------------------------------------------------------------ the vehicles

/// `--fleet-vehicles --ground ADDR --count N --root DIR --rate B --delay-ms
/// MS --loss P --loss-mode M --seed S`: vehicle k (1..=N) serves DIR/k as
/// system k behind its own proxy to ADDR. Prints "READY" when all run,
/// stops when stdin closes and prints "STATS ..." (the proxies' counters
/// summed).
pub fn vehicles_main(args: &[String]) -> ExitCode {
    match vehicles_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark --fleet-vehicles: {e}");
            println!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

struct Vehicle {
    proxy: UdpProxy,
    link: Link,
    server: Server,
}

fn vehicles_run(args: &[String]) -> Result<(), String> {
    let mut ground: Option<SocketAddr> = None;
    let mut count = 0usize;
    let mut root = PathBuf::new();
    let mut spec = LinkSpec {
        key: "fleet",
        label: "",
        rate: None,
        delay_ms: 0,
        loss: 0.0,
        size: 0,
    };
    let mut loss_mode = LossMode::OnAir;
    let mut seed = 1u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value '{v}'");
        match flag.as_str() {
            "--ground" => ground = Some(v.parse().map_err(|_| bad())?),
            "--count" => count = v.parse().map_err(|_| bad())?,
            "--root" => root = PathBuf::from(v),
            "--rate" => spec.rate = Some(v.parse().map_err(|_| bad())?).filter(|r| *r > 0),
            "--delay-ms" => spec.delay_ms = v.parse().map_err(|_| bad())?,
            "--loss" => spec.loss = v.parse().map_err(|_| bad())?,
            "--loss-mode" => loss_mode = v.parse()?,
            "--seed" => seed = v.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let ground = ground.ok_or("--ground is required")?;
    let mut fleet = Vec::with_capacity(count);
    for k in 1..=count {
        let dir = root.join(k.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let s = seed.wrapping_add(2 * k as u64);
        let proxy = UdpProxy::start(
            ([127, 0, 0, 1], 0).into(),
            ground,
            impairment(&spec, s, loss_mode),
            impairment(&spec, s.wrapping_add(1), loss_mode),
        )
        .map_err(|e| format!("proxy {k}: {e}"))?;
        let link = Link::open(&format!("udpout://{}", proxy.listen_addr()), k as u8, 1)
            .map_err(|e| format!("vehicle {k} link: {e}"))?;
        let server = Server::new(&link, &dir).map_err(|e| format!("server {k}: {e}"))?;
        if let Some(rate) = spec.rate {
            server.set_unknown_link_rate(rate);
        }
        fleet.push(Vehicle {
            proxy,
            link,
            server,
        });
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY");
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    let sum = |f: &dyn Fn(&UdpProxy) -> PipeStats| {
        fleet.iter().fold(PipeStats::default(), |mut acc, v| {
            let s = f(&v.proxy);
            acc.offered += s.offered;
            acc.delivered += s.delivered;
            acc.delivered_bytes += s.delivered_bytes;
            acc.lost += s.lost;
            acc.queue_dropped += s.queue_dropped;
            acc
        })
    };
    let text = |s: PipeStats| {
        format!(
            "offered {} delivered {} ({} B) lost {} queue-dropped {}",
            s.offered, s.delivered, s.delivered_bytes, s.lost, s.queue_dropped
        )
    };
    let _ = writeln!(
        out,
        "STATS vehicles→ground: {} | ground→vehicles: {}",
        text(sum(&UdpProxy::up_stats)),
        text(sum(&UdpProxy::down_stats))
    );
    let _ = out.flush();
    for v in fleet {
        drop(v.server);
        v.link.close();
        drop(v.proxy);
    }
    Ok(())
}

// ------------------------------------------------------------------ the orchestra

/// What the ground reported about one fleet of transfers.
struct FleetRun {
    heard_s: f64,
    /// Per vehicle: seconds from the common start, or why it failed.
    transfers: Vec<Result<f64, String>>,
    wall_s: f64,
    cpu_s: f64,
    threads_before: u64,
    threads_peak: u64,
    hwm_kb: u64,
    proxy_stats: Option<String>,
}

/// What the ground reported about the idle part.
struct IdleRun {
    secs: f64,
    cpu_s: f64,
    threads: u64,
    rss_kb: u64,
    hwm_kb: u64,
}

fn own(args: &[String]) -> Result<Command, String> {
    let mut c = Command::new(std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?);
    c.args(args);
    Ok(c)
}

/// Starts the ground with `ground_args`, then `vehicles` vehicles serving
/// `root` behind their links; returns both, the ground past its HEARD line.
fn start_fleet(
    o: &FleetOptions,
    vehicles: usize,
    root: &Path,
    ground_args: &[String],
) -> Result<(crate::process::Spawned, crate::process::Spawned, f64), String> {
    let mut args: Vec<String> = vec!["--fleet-ground".into(), "--vehicles".into()];
    args.push(vehicles.to_string());
    args.extend(ground_args.iter().cloned());
    let (mut ground, addr) = spawn_ready(own(&args)?, "ground", Duration::from_secs(15))?;
    let v_args: Vec<String> = [
        "--fleet-vehicles",
        "--ground",
        &addr,
        "--count",
        &vehicles.to_string(),
        "--root",
        &root.display().to_string(),
        "--rate",
        &o.link.rate.unwrap_or(0).to_string(),
        "--delay-ms",
        &o.link.delay_ms.to_string(),
        "--loss",
        &o.link.loss.to_string(),
        "--loss-mode",
        o.loss_mode.key(),
        "--seed",
        &o.seed.to_string(),
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let (vehicles_child, _) = spawn_ready(own(&v_args)?, "vehicles", Duration::from_secs(120))?;
    let (kind, rest) = ground.wait_line(
        &["HEARD", "FAIL"],
        Duration::from_secs_f64(HEAR_ALL_S + 10.0),
    )?;
    if kind == "FAIL" {
        return Err(format!("ground: {rest}"));
    }
    let heard_s = rest.parse().unwrap_or(0.0);
    Ok((ground, vehicles_child, heard_s))
}

fn fleet_transfers(o: &FleetOptions, op: Op) -> Result<FleetRun, String> {
    let tmp = tempfile::Builder::new()
        .prefix("mavftp-fleet-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let root = tmp.path().join("vehicles");
    let local = tmp.path().join("ground");
    let mut want = Vec::new();
    for k in 1..=o.vehicles {
        let data = pattern(o.size, 100 + k as u32);
        for dir in [root.join(k.to_string()), local.join(k.to_string())] {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(root.join(k.to_string()).join(DOWN_NAME), &data)
            .map_err(|e| format!("write: {e}"))?;
        want.push(data);
    }
    let rate = o.link.rate.unwrap_or(1) as f64;
    let ideal = o.size as f64 / (rate * MAX_EFFICIENCY * (1.0 - o.link.loss));
    let cap = Duration::from_secs_f64(3.0 * ideal + 60.0);
    let ground_args: Vec<String> = [
        "--part",
        "transfer",
        "--op",
        op.key(),
        "--dir",
        &local.display().to_string(),
        "--cap-s",
        &format!("{:.3}", cap.as_secs_f64()),
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let (mut ground, vehicles, heard_s) = start_fleet(o, o.vehicles, &root, &ground_args)?;
    let mut transfers: Vec<Result<f64, String>> = vec![Err("no answer".to_string()); o.vehicles];
    let summary = loop {
        let (kind, rest) =
            ground.wait_line(&["XFER", "SUMMARY", "FAIL"], cap + Duration::from_secs(30))?;
        match kind {
            "XFER" => {
                let mut words = rest.splitn(3, ' ');
                let k: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let secs: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0);
                let verdict = words.next().unwrap_or("").to_string();
                if (1..=o.vehicles).contains(&k) {
                    transfers[k - 1] = if verdict == "OK" {
                        Ok(secs)
                    } else {
                        Err(verdict)
                    };
                }
            }
            "SUMMARY" => break rest,
            _ => return Err(format!("ground: {rest}")),
        }
    };
    let proxy_stats = vehicles.finish("STATS");
    drop(ground);
    // Every file byte for byte.
    for (i, t) in transfers.iter_mut().enumerate() {
        if t.is_ok() {
            let path = local.join((i + 1).to_string()).join(DOWN_NAME);
            match std::fs::read(&path) {
                Ok(got) if got == want[i] => {}
                Ok(got) => *t = Err(format!("CORRUPT: {} B, differs", got.len())),
                Err(e) => *t = Err(format!("CORRUPT: {e}")),
            }
        }
    }
    let n: Vec<f64> = summary
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| n.get(i).copied().unwrap_or(0.0);
    Ok(FleetRun {
        heard_s,
        transfers,
        wall_s: at(0),
        cpu_s: at(1),
        threads_before: at(2) as u64,
        threads_peak: at(3) as u64,
        hwm_kb: at(4) as u64,
        proxy_stats,
    })
}

fn fleet_idle(o: &FleetOptions) -> Result<IdleRun, String> {
    let tmp = tempfile::Builder::new()
        .prefix("mavftp-fleet-idle-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let ground_args: Vec<String> = vec![
        "--part".into(),
        "idle".into(),
        "--idle-s".into(),
        format!("{:.3}", o.idle_s),
    ];
    let (mut ground, vehicles, _) = start_fleet(o, o.idle_vehicles, tmp.path(), &ground_args)?;
    let (kind, rest) =
        ground.wait_line(&["IDLE", "FAIL"], Duration::from_secs_f64(o.idle_s + 60.0))?;
    drop(vehicles);
    if kind == "FAIL" {
        return Err(format!("ground: {rest}"));
    }
    let n: Vec<f64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| n.get(i).copied().unwrap_or(0.0);
    Ok(IdleRun {
        secs: at(0),
        cpu_s: at(1),
        threads: at(2) as u64,
        rss_kb: at(3) as u64,
        hwm_kb: at(4) as u64,
    })
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1000.0)
}

/// `benchmark --fleet ...`.
pub fn fleet_main(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let rate = o.link.rate.unwrap_or(1);
    let ceiling_pct = 100.0 * ceiling(&o.link, o.loss_mode, Op::Plain).unwrap_or(MAX_EFFICIENCY);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut report = String::new();
    let _ = writeln!(report, "mavftp fleet benchmark — {}  ", utc_now());
    let _ = writeln!(
        report,
        "machine: {cores} cores, load {load}; mavftp {}  ",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        report,
        "each vehicle: our server (system k, component 1) behind its own UDP proxy: {rate} B/s, \
         {} ms, {} % loss each way ({}), 1 s drop-tail queue, told the rate; ceiling {ceiling_pct:.1} %  ",
        o.link.delay_ms,
        o.link.loss * 100.0,
        o.loss_mode
    );
    let _ = writeln!(
        report,
        "ground: one process, one udpin port, one client per vehicle; CPU = getrusage over the \
         transfers; threads = /proc/self/status peak\n"
    );
    print!("{report}");
    let _ = std::io::stdout().flush();
    let header_len = report.len();
    let started = Instant::now();
    let mut failed = false;
    if o.transfers {
        let _ = writeln!(
            report,
            "| {} vehicles × {} KB at once | ok | % of link min / median / max | ≥ 85 % | total time | ground CPU s | CPU s per vehicle-MB | ground threads peak (per vehicle) | ground VmHWM |\n|---|---|---|---|---|---|---|---|---|",
            o.vehicles,
            o.size / 1000
        );
        for op in &o.ops {
            let t = Instant::now();
            match fleet_transfers(&o, *op) {
                Ok(r) => {
                    let pcts: Vec<f64> = r
                        .transfers
                        .iter()
                        .filter_map(|t| t.as_ref().ok())
                        .map(|secs| 100.0 * o.size as f64 / secs.max(1e-6) / rate as f64)
                        .collect();
                    for (i, t) in r.transfers.iter().enumerate() {
                        if let Err(why) = t {
                            failed = true;
                            eprintln!("[fleet] {} vehicle {}: {why}", op.label(), i + 1);
                        }
                    }
                    let ok = pcts.len();
                    let spread = if pcts.is_empty() {
                        "–".to_string()
                    } else {
                        let min = pcts.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = pcts.iter().copied().fold(0.0, f64::max);
                        format!("{min:.1} / {:.1} / {max:.1} %", median(pcts.clone()))
                    };
                    let vehicle_mb = ok as f64 * o.size as f64 / 1e6;
                    let per_vmb = if ok > 0 {
                        fmt_cpu(r.cpu_s / vehicle_mb)
                    } else {
                        "–".into()
                    };
                    let row = format!(
                        "| {} | {ok}/{} | {spread} | {} | {:.1} s | {:.2} | {per_vmb} | {} ({:.2}) | {} |",
                        op.label(),
                        o.vehicles,
                        pcts.iter().filter(|p| **p >= 85.0).count(),
                        r.wall_s,
                        r.cpu_s,
                        r.threads_peak,
                        r.threads_peak as f64 / o.vehicles as f64,
                        mb(r.hwm_kb)
                    );
                    eprintln!(
                        "[fleet] {}: all heard after {:.1} s; threads before the downloads {}; {} ({:.0} s)",
                        op.label(),
                        r.heard_s,
                        r.threads_before,
                        r.proxy_stats.as_deref().unwrap_or("no proxy counters"),
                        t.elapsed().as_secs_f64()
                    );
                    let _ = writeln!(report, "{row}");
                }
                Err(e) => {
                    failed = true;
                    eprintln!("[fleet] {}: FAILED {e}", op.label());
                    let _ = writeln!(report, "| {} | FAILED: {e} |||||||", op.label());
                }
            }
        }
        let _ = writeln!(
            report,
            "\n% of link: file size / (time from the common start to that transfer's end) / link \
             rate. Targets (issue 14, N = 20, on-air 1 %): every transfer ≥ 85 %; ≤ 0.2 CPU s \
             per vehicle-MB; ≤ 2 threads per vehicle.\n"
        );
    }
    if o.idle {
        match fleet_idle(&o) {
            Ok(r) => {
                let _ = writeln!(
                    report,
                    "Idle: {} vehicles heartbeating, {} idle clients, {:.0} s: ground CPU {:.2} s \
                     = {:.2} % of one core; {} threads; VmRSS {} (VmHWM {}). Targets (issue 14, \
                     N = 100): ≤ 2 % of one core, ≤ 100 MB RSS.",
                    o.idle_vehicles,
                    o.idle_vehicles,
                    r.secs,
                    r.cpu_s,
                    100.0 * r.cpu_s / r.secs.max(1e-6),
                    r.threads,
                    mb(r.rss_kb),
                    mb(r.hwm_kb)
                );
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(report, "Idle: FAILED {e}");
            }
        }
    }
    println!(
        "{}\nwall time {:.1} min",
        &report[header_len..],
        started.elapsed().as_secs_f64() / 60.0
    );
    if let Some(path) = &o.markdown
        && let Err(e) = std::fs::write(path, &report)
    {
        eprintln!("benchmark: cannot write {}: {e}", path.display());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
