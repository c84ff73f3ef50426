//! `benchmark --cpu`: CPU per MB of our client and of our server, each in
//! its own process, over UDP loopback (issue 14).
//!
//! Each run starts our server (`--peer --serve-root`, default pacing, as in
//! the table's loopback rows) and our client (`--cpu-client`), both children
//! of this process. The client says READY once it heard the server and holds
//! a [`mavftp::Client`]; this process then reads the server's CPU seconds
//! (the helper answers "CPU" on stdin with its getrusage), tells the client
//! GO, waits for its DONE line (elapsed seconds and the client's own
//! getrusage over the transfer), and reads the server's CPU seconds again.
//! Both figures cover the transfer only, every thread of each process.
//!
//! Instruction counts (`--callgrind`): the side being measured runs under
//! `valgrind --tool=callgrind --callgrind-out-file=...` (the other side
//! natively), and its `totals:` line (every instruction the process executed,
//! all threads) is read when it exits. Per op and side: one empty transfer
//! (0 B: process start-up, discovery, open and close, about 0.6 M) and
//! `--callgrind-repeat` transfers of the size; instructions per MB =
//! (I(size) − I(0 B)) / size, median and range. Callgrind counts user-space
//! instructions only (the kernel's share of send/recv is in the CPU seconds,
//! not here) and runs the code 30–40 times slower, so the other side sees a
//! slow peer: work a slowed client does because of that (resends, data read
//! twice) is in its count. Counts of code whose work depends on time more
//! than on bytes vary between runs: on 2026-12-01 our server's repeated
//! within 2 %, our client's plain download ranged 44–88 M/MB (its worker
//! scans the read window on every wake-up, so its count grows with the time
//! a transfer takes). 10 MB under callgrind takes 10–20 s per run here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::cli::{Op, parse_list};
use crate::process::spawn_ready;
use crate::report::{fmt_cpu, fmt_rate, median, utc_now};
use crate::run::{RunOutcome, Workspace, run_ours};

/// Which process a figure is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    const ALL: [Side; 2] = [Side::Client, Side::Server];
    fn key(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

struct CpuOptions {
    ops: Vec<Op>,
    size: usize,
    repeat: usize,
    callgrind: Vec<Side>,
    callgrind_size: usize,
    callgrind_repeat: usize,
    valgrind: PathBuf,
    callgrind_dir: Option<PathBuf>,
    cap: Duration,
    markdown: Option<PathBuf>,
}

fn usage() -> String {
    "usage: cargo run --release --example benchmark -- --cpu [options]\n\
     \x20 --op LIST               of burst,plain,upload (default plain,burst)\n\
     \x20 --size-mb N             file size for CPU seconds, MB = 10^6 B (default 10)\n\
     \x20 --repeat N              runs per op for CPU seconds; medians (default 3)\n\
     \x20 --callgrind LIST        of client,server: also count instructions of that side\n\
     \x20                         under valgrind --tool=callgrind (default none)\n\
     \x20 --callgrind-size-mb N   file size of the callgrind runs (default 10)\n\
     \x20 --callgrind-repeat N    callgrind runs per op and side; median (min–max) (default 3)\n\
     \x20 --valgrind PATH         the valgrind program (default valgrind)\n\
     \x20 --callgrind-dir DIR     keep the callgrind files there (callgrind.<op>.<side>.<bytes>B.<rep>,\n\
     \x20                         for callgrind_annotate)\n\
     \x20 --cap-s S               time limit of one transfer (default 600)\n\
     \x20 --markdown FILE         also write the markdown table to FILE"
        .to_string()
}

fn parse(args: &[String]) -> Result<CpuOptions, String> {
    let mut o = CpuOptions {
        ops: vec![Op::Plain, Op::Burst],
        size: 10_000_000,
        repeat: 3,
        callgrind: Vec::new(),
        callgrind_size: 10_000_000,
        callgrind_repeat: 3,
        valgrind: PathBuf::from("valgrind"),
        callgrind_dir: None,
        cap: Duration::from_secs(600),
        markdown: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(usage());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |e: String| format!("{flag}: {e}");
        let mb = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|x| *x > 0.0 && x.is_finite())
                .map(|x| (x * 1e6).round() as usize)
                .ok_or_else(|| bad(format!("bad size '{v}'")))
        };
        match flag.as_str() {
            "--op" => o.ops = parse_list(value, &Op::ALL, Op::key).map_err(bad)?,
            "--size-mb" => o.size = mb(value)?,
            "--callgrind-size-mb" => o.callgrind_size = mb(value)?,
            "--repeat" | "--callgrind-repeat" => {
                let n = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(format!("bad count '{value}'")))?;
                if flag == "--repeat" {
                    o.repeat = n;
                } else {
                    o.callgrind_repeat = n;
                }
            }
            "--callgrind" => {
                o.callgrind = if value == "none" {
                    Vec::new()
                } else {
                    parse_list(value, &Side::ALL, Side::key).map_err(bad)?
                }
            }
            "--valgrind" => o.valgrind = PathBuf::from(value),
            "--callgrind-dir" => o.callgrind_dir = Some(PathBuf::from(value)),
            "--cap-s" => {
                o.cap = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| bad(format!("bad time '{value}'")))?
            }
            "--markdown" => o.markdown = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    Ok(o)
}

/// What one run measured.
struct CpuRun {
    secs: f64,
    client_cpu_s: f64,
    server_cpu_s: f64,
    /// Instructions of the side run under callgrind, if any.
    instructions: Option<u64>,
}

/// A child of this executable, optionally under callgrind writing to `out`.
fn own_command(args: &[&str], callgrind: Option<(&Path, &Path)>) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Ok(match callgrind {
        None => {
            let mut c = Command::new(exe);
            c.args(args);
            c
        }
        Some((valgrind, out)) => {
            let mut c = Command::new(valgrind);
            c.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(exe)
                .args(args);
            c
        }
    })
}

/// The `totals:` (or `summary:`) figure of a callgrind output file: the
/// instructions executed by the whole process.
fn callgrind_total(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |key: &str| {
        text.lines()
            .rev()
            .filter_map(|l| l.strip_prefix(key))
            .find_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
    };
    field("totals:")
        .or_else(|| field("summary:"))
        .ok_or_else(|| format!("{}: no totals/summary line", path.display()))
}

/// One transfer of `size` bytes; `measured` runs under callgrind if given.
fn cpu_run(
    o: &CpuOptions,
    op: Op,
    size: usize,
    rep: usize,
    measured: Option<Side>,
) -> Result<CpuRun, String> {
    let ws = Workspace::new(size, rep)?;
    let out_file = match (&o.callgrind_dir, measured) {
        (Some(dir), Some(side)) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            dir.join(format!(
                "callgrind.{}.{}.{size}B.{rep}",
                op.key(),
                side.key()
            ))
        }
        _ => ws.root.with_file_name("callgrind.out"),
    };
    let under =
        |side| (measured == Some(side)).then_some((o.valgrind.as_path(), out_file.as_path()));
    let slow = measured.is_some();
    let start_limit = Duration::from_secs(if slow { 120 } else { 15 });

    let root = ws.root.display().to_string();
    let server_cmd = own_command(
        &["--peer", "--serve-root", &root, "--no-proxy"],
        under(Side::Server),
    )?;
    let (mut server, addr) = spawn_ready(server_cmd, "server (--peer)", start_limit)?;
    let local = ws.local_dir.display().to_string();
    let up = ws.up_file.display().to_string();
    let cap = format!("{:.3}", o.cap.as_secs_f64());
    let client_cmd = own_command(
        &[
            "--cpu-client",
            "--target",
            &addr,
            "--op",
            op.key(),
            "--dir",
            &local,
            "--up",
            &up,
            "--cap-s",
            &cap,
        ],
        under(Side::Client),
    )?;
    let (mut client, _) = spawn_ready(client_cmd, "client (--cpu-client)", start_limit)?;

    let server_cpu0 = server.ask_cpu()?;
    client.send_line("GO")?;
    let answer = client.wait_line(&["DONE", "FAIL"], o.cap + Duration::from_secs(60));
    let server_cpu1 = server.ask_cpu()?;
    let exit_limit = Duration::from_secs(if slow { 120 } else { 10 });
    let client_exited = client.close_and_wait(exit_limit);
    let server_exited = server.close_and_wait(exit_limit);
    let (secs, client_cpu_s) = match answer? {
        ("DONE", rest) => {
            let mut words = rest.split_whitespace().map(str::parse::<f64>);
            match (words.next(), words.next()) {
                (Some(Ok(secs)), Some(Ok(cpu))) => (secs, cpu),
                _ => return Err(format!("bad DONE line '{rest}'")),
            }
        }
        (_, rest) => return Err(format!("{} {}: {rest}", op.key(), fmt_size_mb(size))),
    };
    if let RunOutcome::Corrupt(why) = ws.verify(
        op,
        RunOutcome::Ok {
            secs,
            cpu_s: client_cpu_s,
        },
    ) {
        return Err(format!("corrupt transfer: {why}"));
    }
    let instructions = match measured {
        None => None,
        Some(side) => {
            let exited = match side {
                Side::Client => client_exited,
                Side::Server => server_exited,
            };
            if !exited {
                return Err(format!("the {} under callgrind did not exit", side.key()));
            }
            Some(callgrind_total(&out_file)?)
        }
    };
    Ok(CpuRun {
        secs,
        client_cpu_s,
        server_cpu_s: server_cpu1 - server_cpu0,
        instructions,
    })
}

/// Instructions per MB of `side` for `op`: one empty transfer for the fixed
/// cost, then `--callgrind-repeat` transfers of `--callgrind-size-mb`.
fn callgrind_side(o: &CpuOptions, op: Op, side: Side) -> Result<Vec<f64>, String> {
    let t = Instant::now();
    let fixed = cpu_run(o, op, 0, 0, Some(side))?.instructions.unwrap_or(0);
    let mut per_mb = Vec::new();
    for rep in 0..o.callgrind_repeat {
        let total = cpu_run(o, op, o.callgrind_size, rep, Some(side))?
            .instructions
            .unwrap_or(0);
        let x = total.saturating_sub(fixed) as f64 / (o.callgrind_size as f64 / 1e6);
        eprintln!(
            "[callgrind] {} {} rep {}: {} instructions ({} fixed) → {}/MB ({:.0} s so far)",
            op.label(),
            side.key(),
            rep + 1,
            fmt_instructions(total as f64),
            fmt_instructions(fixed as f64),
            fmt_instructions(x),
            t.elapsed().as_secs_f64()
        );
        per_mb.push(x);
    }
    Ok(per_mb)
}

fn fmt_size_mb(bytes: usize) -> String {
    format!("{} MB", bytes as f64 / 1e6)
}

fn fmt_instructions(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} G", n / 1e9)
    } else {
        format!("{:.1} M", n / 1e6)
    }
}

/// `benchmark --cpu ...`.
pub fn cpu_main(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if !o.callgrind.is_empty()
        && !Command::new(&o.valgrind)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    {
        eprintln!(
            "benchmark --cpu: {} --version failed; install valgrind or pass --valgrind PATH",
            o.valgrind.display()
        );
        return ExitCode::FAILURE;
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut header = String::new();
    let _ = writeln!(header, "mavftp CPU per MB — {}", utc_now());
    let _ = writeln!(
        header,
        "machine: {cores} cores, load {load}; mavftp {}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        header,
        "our client and our server, separate processes, UDP loopback, server default pacing; \
         CPU s = getrusage user + system of each process over the transfer, median of {} × {}",
        o.repeat,
        fmt_size_mb(o.size)
    );
    if !o.callgrind.is_empty() {
        let _ = writeln!(
            header,
            "instructions: valgrind --tool=callgrind totals of the measured side, \
             (I({}) − I(0 B)) / size, median (min–max) of {}; the other side native",
            fmt_size_mb(o.callgrind_size),
            o.callgrind_repeat
        );
    }
    print!("{header}");
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut failed = false;
    for op in &o.ops {
        let mut runs = Vec::new();
        for rep in 0..o.repeat {
            match cpu_run(&o, *op, o.size, rep, None) {
                Ok(r) => {
                    eprintln!(
                        "[cpu] {} {} rep {}: {} in {:.2} s; client {:.3} s, server {:.3} s CPU",
                        op.label(),
                        fmt_size_mb(o.size),
                        rep + 1,
                        fmt_rate(o.size as f64 / r.secs.max(1e-6)),
                        r.secs,
                        r.client_cpu_s,
                        r.server_cpu_s
                    );
                    runs.push(r);
                }
                Err(e) => {
                    failed = true;
                    eprintln!("[cpu] {} rep {}: FAILED {e}", op.label(), rep + 1);
                }
            }
        }
        let mut counts = Vec::new();
        for side in &o.callgrind {
            match callgrind_side(&o, *op, *side) {
                Ok(per_mb) => counts.push((*side, per_mb)),
                Err(why) => {
                    failed = true;
                    eprintln!("[callgrind] {} {}: FAILED {why}", op.label(), side.key());
                }
            }
        }
        rows.push((*op, runs, counts));
    }

    let mb = o.size as f64 / 1e6;
    let mut md = String::from(
        "| op | goodput | client CPU s/MB | server CPU s/MB | client instr/MB | server instr/MB |\n\
         |---|---|---|---|---|---|\n",
    );
    for (op, runs, counts) in &rows {
        let med = |f: &dyn Fn(&CpuRun) -> f64| {
            if runs.is_empty() {
                "–".to_string()
            } else {
                fmt_cpu(median(runs.iter().map(f).collect()))
            }
        };
        let goodput = if runs.is_empty() {
            "–".to_string()
        } else {
            fmt_rate(median(
                runs.iter()
                    .map(|r| o.size as f64 / r.secs.max(1e-6))
                    .collect(),
            ))
        };
        let count = |side| {
            counts
                .iter()
                .find(|(s, _)| *s == side)
                .map_or("–".to_string(), |(_, per_mb)| {
                    let lo = per_mb.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = per_mb.iter().copied().fold(0.0, f64::max);
                    let mid = fmt_instructions(median(per_mb.clone()));
                    if per_mb.len() > 1 {
                        format!("{mid} ({}–{})", fmt_instructions(lo), fmt_instructions(hi))
                    } else {
                        mid
                    }
                })
        };
        let _ = writeln!(
            md,
            "| {} | {goodput} | {} | {} | {} | {} |",
            op.label(),
            med(&|r| r.client_cpu_s / mb),
            med(&|r| r.server_cpu_s / mb),
            count(Side::Client),
            count(Side::Server)
        );
    }
    println!(
        "\n{md}\nwall time {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    if let Some(path) = &o.markdown
        && let Err(e) = std::fs::write(path, format!("{header}\n{md}"))
    {
        eprintln!("benchmark: cannot write {}: {e}", path.display());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `benchmark --cpu-client --target ADDR --op OP --dir DIR --up FILE
/// --cap-s S`: our client in its own process. Prints READY once the server
/// was heard, waits for GO on stdin, runs the transfer and prints
/// "DONE <elapsed s> <CPU s>" (this process's getrusage over the transfer)
/// or "FAIL <why>".
pub fn client_main(args: &[String]) -> ExitCode {
    let mut target = None;
    let mut op = None;
    let mut dir = None;
    let mut up = None;
    let mut cap = Duration::from_secs(600);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            println!("FAIL {flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--target" => target = Some(v.clone()),
            "--op" => op = Op::ALL.into_iter().find(|o| o.key() == v),
            "--dir" => dir = Some(PathBuf::from(v)),
            "--up" => up = Some(PathBuf::from(v)),
            "--cap-s" => {
                if let Ok(s) = v.parse::<f64>() {
                    cap = Duration::from_secs_f64(s);
                }
            }
            _ => {
                println!("FAIL unknown option {flag}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(target), Some(op), Some(dir), Some(up)) = (target, op, dir, up) else {
        println!("FAIL --target, --op, --dir and --up are required");
        return ExitCode::from(2);
    };
    let mut go = || {
        println!("READY");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    };
    match run_ours(&target, op, &dir, &up, cap, &mut go) {
        RunOutcome::Ok { secs, cpu_s } => {
            println!("DONE {secs:.6} {cpu_s:.6}");
            ExitCode::SUCCESS
        }
        other => {
            let why = match &other {
                RunOutcome::Failed(m) | RunOutcome::Corrupt(m) => m.clone(),
                _ => other.short().to_string(),
            };
            println!("FAIL {why}");
            ExitCode::FAILURE
        }
    }
}
